import Foundation

/// Times as pylon.db stores them: RFC 3339 in UTC with milliseconds, `2026-11-29T15:07:00.123Z`.
///
/// One fixed-width form for every column and every journal `time`, so that text order is time
/// order (window queries compare strings and use the indexes) and a value read back equals the
/// value written. A `Date` is rounded to the millisecond on the way in; the store hands back
/// the rounded value, so a record read equals the record replayed from the journal.
enum Timestamp {
    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the range four year digits hold.
    static let minMilliseconds: Int64 = -62_167_219_200_000
    static let maxMilliseconds: Int64 = 253_402_300_799_999

    /// Milliseconds since 1970, rounded to the nearest and clamped to the four-digit years.
    static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return 0 }
        if value <= Double(minMilliseconds) { return minMilliseconds }
        if value >= Double(maxMilliseconds) { return maxMilliseconds }
        return Int64(value)
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// `date` rounded to the millisecond, as it reads back from the store.
    static func rounded(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }

    static func string(_ date: Date) -> String {
        string(milliseconds: milliseconds(date))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, always 24 characters.
    static func string(milliseconds: Int64) -> String {
        let ms = min(max(milliseconds, minMilliseconds), maxMilliseconds)
        let (days, msOfDay) = floorDivide(ms, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let milli = msOfDay % 1000
        var out = [UInt8]()
        out.reserveCapacity(24)
        func append(_ value: Int64, _ digits: Int) {
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        append(year, 4)
        out.append(UInt8(ascii: "-"))
        append(month, 2)
        out.append(UInt8(ascii: "-"))
        append(day, 2)
        out.append(UInt8(ascii: "T"))
        append(hour, 2)
        out.append(UInt8(ascii: ":"))
        append(minute, 2)
        out.append(UInt8(ascii: ":"))
        append(second, 2)
        out.append(UInt8(ascii: "."))
        append(milli, 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses exactly the form ``string(milliseconds:)`` writes; anything else is nil.
    static func parse(_ text: String) -> Date? {
        parseMilliseconds(text).map { date(milliseconds: $0) }
    }

    static func parseMilliseconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ start: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for i in start..<(start + count) {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(b[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let milli = number(20, 3),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = self.days(fromCivil: year, month, day)
        return days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
    }

    /// The start of the UTC day holding `date`.
    static func startOfUTCDay(_ date: Date) -> Date {
        let (days, _) = floorDivide(milliseconds(date), 86_400_000)
        return self.date(milliseconds: days * 86_400_000)
    }

    // MARK: - Civil calendar arithmetic (proleptic Gregorian, days since 1970-01-01)

    static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a date, counting in 400-year eras of 146,097 days that start on
    /// March 1st, so the leap day is the last day of an era's year.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400).quotient
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``days(fromCivil:_:_:)``.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
