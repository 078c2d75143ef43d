/// Standard base64 (RFC 4648 §4, with `=` padding), as NIP-04 and NIP-44 payloads use it.
///
/// Decoding is strict on purpose: the length must be a multiple of 4, padding may only end the text,
/// no whitespace or URL-safe characters, and the unused low bits of the last group must be zero. One
/// ciphertext then has exactly one text form, and a malformed payload fails here instead of deeper
/// in the cipher. The accepted set is pinned here rather than left to a Foundation decoder's options.
enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0...63 for alphabet characters, 0xFF for everything else.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        switch input.count - i {
        case 1:
            let n = UInt32(input[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        case 2:
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The decoded bytes, or nil for anything that is not canonical padded base64.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            let isLast = i + 4 == input.count
            let a = values[Int(input[i])], b = values[Int(input[i + 1])]
            guard a != 0xFF, b != 0xFF else { return nil }
            let c3 = input[i + 2], c4 = input[i + 3]
            let equals = UInt8(ascii: "=")
            if isLast && c3 == equals {
                // "xx==": one byte; the low 4 bits of b are unused and must be zero.
                guard c4 == equals, b & 0x0F == 0 else { return nil }
                out.append(a << 2 | b >> 4)
            } else if isLast && c4 == equals {
                // "xxx=": two bytes; the low 2 bits of c are unused and must be zero.
                let c = values[Int(c3)]
                guard c != 0xFF, c & 0x03 == 0 else { return nil }
                out.append(a << 2 | b >> 4)
                out.append(b << 4 | c >> 2)
            } else {
                let c = values[Int(c3)], d = values[Int(c4)]
                guard c != 0xFF, d != 0xFF else { return nil }
                out.append(a << 2 | b >> 4)
                out.append(b << 4 | c >> 2)
                out.append(c << 6 | d)
            }
            i += 4
        }
        return out
    }
}
