public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 times, as the journal, status and logs write them: UTC with milliseconds,
/// `2026-11-29T15:07:00.123Z`. Parsing accepts any offset and any number of fraction digits.
public enum RFC3339 {
    /// Formats `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func string(from date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        // To the nearest millisecond: a Date holds binary fractions, so .123 may be stored as .12299.
        var millis = Int(((interval - Double(seconds)) * 1000).rounded())
        if millis >= 1000 {
            seconds += 1
            millis -= 1000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func append(_ value: Int, digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        append(Int(parts.tm_year) + 1900, digits: 4)
        out.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mon) + 1, digits: 2)
        out.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mday), digits: 2)
        out.append(UInt8(ascii: "T"))
        append(Int(parts.tm_hour), digits: 2)
        out.append(UInt8(ascii: ":"))
        append(Int(parts.tm_min), digits: 2)
        out.append(UInt8(ascii: ":"))
        append(Int(parts.tm_sec), digits: 2)
        out.append(UInt8(ascii: "."))
        append(millis, digits: 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t`, `z` and a space separator are accepted.
    public static func date(from text: String) -> Date? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var value = 0
            for _ in 0..<count {
                let byte = b[i]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
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
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            var scale = 1.0
            let start = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                if i - start < 9 {
                    digits = digits * 10 + Int(b[i] - UInt8(ascii: "0"))
                    scale *= 10
                }
                i += 1
            }
            guard i > start else { return nil }
            fraction = Double(digits) / scale
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let hours = number(2), expect([UInt8(ascii: ":")]), let minutes = number(2), hours < 24, minutes < 60
            else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(seconds - offset) + fraction)
    }
}
