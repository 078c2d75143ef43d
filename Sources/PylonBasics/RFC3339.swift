#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// RFC 3339 times, the one way pylon writes and reads them: the journal, the store's columns,
/// `status`, the logs and the scheduler's snapshot.
///
/// Written: UTC with milliseconds, always 24 characters (`2026-11-29T15:07:00.123Z`), so that text
/// order is time order (the store's window queries compare strings) and a value read back equals
/// the value written. A `Date` is rounded to the nearest millisecond and clamped to the years four
/// digits hold. Read: any offset (`Z`, `+01:00`), `t`/`z`/space separators, any number of fraction
/// digits (kept to the millisecond).
public enum RFC3339 {
    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
    public static let minMilliseconds: Int64 = -62_167_219_200_000
    public static let maxMilliseconds: Int64 = 253_402_300_799_999

    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func string(from date: Date) -> String {
        string(milliseconds: milliseconds(date))
    }

    /// Milliseconds since 1970 as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func string(milliseconds: Int64) -> String {
        let ms = min(max(milliseconds, minMilliseconds), maxMilliseconds)
        let (days, msOfDay) = floorDivide(ms, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
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
        append(msOfDay / 3_600_000, 2)
        out.append(UInt8(ascii: ":"))
        append(msOfDay / 60_000 % 60, 2)
        out.append(UInt8(ascii: ":"))
        append(msOfDay / 1000 % 60, 2)
        out.append(UInt8(ascii: "."))
        append(msOfDay % 1000, 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
    public static func date(from text: String) -> Date? {
        milliseconds(from: text).map(date(milliseconds:))
    }

    /// Parses like ``date(from:)``, to milliseconds since 1970 (further fraction digits dropped).
    public static func milliseconds(from text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int64? {
            guard i + count <= b.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<count {
                let byte = b[i]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                i += 1
            }
            return value
        }
        func expect(_ options: [UInt8]) -> Bool {
            guard i < b.count, options.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect([UInt8(ascii: "-")]), let month = number(2), expect([UInt8(ascii: "-")]),
            let day = number(2), expect([UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")]),
            let hour = number(2), expect([UInt8(ascii: ":")]), let minute = number(2), expect([UInt8(ascii: ":")]),
            let second = number(2),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second <= 60
        else { return nil }
        var millis: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale: Int64 = 100
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                millis += Int64(b[i] - UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let hours = number(2), expect([UInt8(ascii: ":")]), let minutes = number(2), hours < 24, minutes < 60
            else { return nil }
            offset = sign * (hours * 3600 + minutes * 60) * 1000
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = days(fromCivil: year, month, day)
        return days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis - offset
    }

    /// Milliseconds since 1970, rounded to the nearest and clamped to the four-digit years.
    public static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return 0 }
        if value <= Double(minMilliseconds) { return minMilliseconds }
        if value >= Double(maxMilliseconds) { return maxMilliseconds }
        return Int64(value)
    }

    public static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// `date` rounded to the millisecond, as it reads back.
    public static func rounded(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }

    /// The start of the UTC day holding `date`.
    public static func startOfUTCDay(_ date: Date) -> Date {
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
