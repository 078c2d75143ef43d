internal import Crypto

/// Base58 and Base58Check (Bitcoin alphabet), for BIP-32 `xprv` serialization.
enum Base58 {
    private static let alphabet: [UInt8] = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// Base58 of the bytes: each leading zero byte becomes "1", the rest is the big-endian number in
    /// base 58.
    static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        // Base-58 digits, least significant first; log(256)/log(58) < 1.37.
        var digits = [UInt8]()
        digits.reserveCapacity(bytes.count * 137 / 100 + 1)
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let text = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: text, as: UTF8.self)
    }

    /// Base58 of the bytes followed by the first 4 bytes of their double SHA-256.
    static func checkEncode(_ bytes: [UInt8]) -> String {
        let checksum = Array(SHA256.hash(data: Array(SHA256.hash(data: bytes))).prefix(4))
        return encode(bytes + checksum)
    }
}
