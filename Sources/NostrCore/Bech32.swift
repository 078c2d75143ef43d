/// Bech32 (BIP-173; not bech32m) with the length limit lifted to what NIP-19 allows.

public import PylonBasics

public enum Bech32 {
    static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (i, c) in charset.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    /// NIP-19 allows up to 5000 characters (BIP-173's 90 is too small for nprofile and nevent).
    public static let maxLength = 5000

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var chk: UInt32 = 1
        for v in values {
            let top = chk >> 25
            chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(v)
            for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= generator[i] }
        }
        return chk
    }

    static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Encodes 8-bit data under a human-readable part.
    public static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = convertBits(data, from: 8, to: 5, pad: true) ?? []
        let mod = polymod(expand(hrpBytes) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        let checksum = (0..<6).map { UInt8((mod >> UInt32(5 * (5 - $0))) & 31) }
        var out = hrpBytes
        out.append(UInt8(ascii: "1"))
        for v in values + checksum { out.append(charset[Int(v)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes text into its human-readable part and 8-bit data; throws on a bad checksum, mixed
    /// case, characters outside the charset, non-zero padding or a length over the limit.
    public static func decode(_ text: String) throws(NostrError) -> (hrp: String, data: [UInt8]) {
        let (hrp, words) = try decodeWords(text, maxLength: maxLength)
        guard let data = convertBits(words, from: 5, to: 8, pad: false) else {
            throw NostrError(.invalidBech32, "bech32 data has invalid padding")
        }
        return (String(decoding: hrp, as: UTF8.self), data)
    }

    /// Decodes text into its human-readable part (lower case) and its 5-bit words, checksum
    /// removed: the form BOLT #11 reads, whose fields are counted in words.
    static func decodeWords(_ text: String, maxLength: Int) throws(NostrError) -> (hrp: [UInt8], words: [UInt8]) {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxLength else { throw NostrError(.invalidBech32, "bech32 text is longer than \(maxLength) characters") }
        guard bytes.count >= 8 else { throw NostrError(.invalidBech32, "bech32 text is too short") }
        var hasLower = false
        var hasUpper = false
        for c in bytes {
            guard c >= 33 && c <= 126 else { throw NostrError(.invalidBech32, "bech32 text has a character outside ASCII 33-126") }
            if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { hasLower = true }
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { hasUpper = true }
        }
        guard !(hasLower && hasUpper) else { throw NostrError(.invalidBech32, "bech32 text mixes upper and lower case") }
        let lower = bytes.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator >= 1, lower.count - separator - 1 >= 6 else {
            throw NostrError(.invalidBech32, "bech32 text has no valid separator")
        }
        let hrp = Array(lower[..<separator])
        var values: [UInt8] = []
        values.reserveCapacity(lower.count - separator - 1)
        for c in lower[(separator + 1)...] {
            let v = c < 128 ? reverse[Int(c)] : -1
            guard v >= 0 else { throw NostrError(.invalidBech32, "bech32 text has a character outside its alphabet") }
            values.append(UInt8(v))
        }
        guard polymod(expand(hrp) + values) == 1 else { throw NostrError(.invalidBech32, "bech32 checksum does not match") }
        return (hrp, Array(values.dropLast(6)))
    }

    /// Regroups bits (8→5 with padding to encode, 5→8 strictly to decode).
    static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var acc = 0
        var bits = 0
        var out: [UInt8] = []
        out.reserveCapacity(data.count * from / to + 1)
        let maxv = (1 << to) - 1
        for value in data {
            guard Int(value) >> from == 0 else { return nil }
            acc = (acc << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((acc >> bits) & maxv))
            }
            acc &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { out.append(UInt8((acc << (to - bits)) & maxv)) }
        } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
            return nil
        }
        return out
    }
}
