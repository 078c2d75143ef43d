/// The escapes of JSON strings (RFC 8259 §7), decoded in one place for every reader: the
/// ``JSON`` parser and the backends' token scanner.
public enum JSONEscape {
    /// Decodes the escape whose letter is at `bytes[index]` (just after the backslash), appends its
    /// UTF-8 to `output` and moves `index` past it. A `\uD83C\uDF89` pair is one escape here.
    /// Returns nil on success, or what is wrong ("lone high surrogate").
    @inline(__always)
    public static func decode(_ bytes: UnsafeRawBufferPointer, at index: inout Int, into output: inout [UInt8]) -> String? {
        guard index < bytes.count else { return "unterminated escape" }
        let letter = bytes[index]
        index += 1
        switch letter {
        case UInt8(ascii: "\""): output.append(0x22)
        case UInt8(ascii: "\\"): output.append(0x5C)
        case UInt8(ascii: "/"): output.append(0x2F)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            guard var scalar = hex4(bytes, at: index) else { return "invalid unicode escape" }
            index += 4
            if (0xD800...0xDBFF).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    return "lone high surrogate"
                }
                guard let low = hex4(bytes, at: index + 2), (0xDC00...0xDFFF).contains(low) else { return "invalid low surrogate" }
                index += 6
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                return "lone low surrogate"
            }
            guard let unicode = Unicode.Scalar(scalar) else { return "invalid unicode escape" }
            UTF8.encode(unicode) { output.append($0) }
        default:
            return "invalid escape"
        }
        return nil
    }

    /// Four hex digits at `position`, or nil.
    public static func hex4(_ bytes: UnsafeRawBufferPointer, at position: Int) -> UInt32? {
        guard position >= 0, position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
