/// 32 bytes stored inline (no heap allocation), the representation of event ids, public keys and
/// other fixed-size hashes. Equality and hashing are cheap, which matters for dedupe sets on the
/// relay hot path.
public struct Bytes32: Hashable, Sendable, Comparable {
    @usableFromInline var storage: (UInt64, UInt64, UInt64, UInt64)

    /// All zero bytes.
    public static let zero = Bytes32(storage: (0, 0, 0, 0))

    @inlinable init(storage: (UInt64, UInt64, UInt64, UInt64)) { self.storage = storage }

    /// Copies exactly 32 bytes; returns nil for any other count.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var value = Bytes32.zero
        value.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: bytes)
        }
        self = value
    }

    /// Fills the 32 bytes through a pointer (used with C APIs that write 32 bytes).
    @inlinable
    public init(unsafeUninitializedCapacity body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        var value = Bytes32.zero
        try value.withUnsafeMutableBytes(body)
        self = value
    }

    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    @inlinable
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &storage, body)
    }

    /// The bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lowercase hex, 64 characters.
    public var hex: String { withUnsafeBytes { Hex.encode($0) } }

    /// Parses exactly 64 hex characters (either case is accepted here; NIP-01 wire fields are
    /// checked for lowercase by their parsers).
    public init?(hex: some StringProtocol) {
        var result = Bytes32.zero
        let ok = result.withUnsafeMutableBytes { Hex.decode(hex, into: $0) }
        guard ok else { return nil }
        self = result
    }

    public static func == (lhs: Bytes32, rhs: Bytes32) -> Bool {
        lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1
            && lhs.storage.2 == rhs.storage.2 && lhs.storage.3 == rhs.storage.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }

    /// Lexicographic order of the bytes (the order NIP-01 uses to break `created_at` ties).
    public static func < (lhs: Bytes32, rhs: Bytes32) -> Bool {
        lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in
                for i in 0..<32 where l[i] != r[i] { return l[i] < r[i] }
                return false
            }
        }
    }
}

/// Lowercase hex encoding and strict decoding.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of the bytes.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex text of any even length; nil on an odd length or a non-hex character.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: utf8.count / 2)
        let ok = out.withUnsafeMutableBytes { decode(text, into: $0) }
        return ok ? out : nil
    }

    /// Decodes hex text into a buffer of exactly half its length; false on any mismatch.
    public static func decode(_ text: some StringProtocol, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == buffer.count * 2 else { return false }
        var i = 0
        var high: UInt8 = 0
        var isHigh = true
        for c in utf8 {
            guard let v = value(c) else { return false }
            if isHigh {
                high = v
            } else {
                buffer[i] = high << 4 | v
                i += 1
            }
            isHigh.toggle()
        }
        return true
    }

    /// True when the text is exactly `length` lowercase hex characters (NIP-01 wire form).
    @inlinable
    public static func isLowercase(_ text: some StringProtocol, length: Int) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == length else { return false }
        for c in utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): continue
            default: return false
            }
        }
        return true
    }

    @inline(__always)
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }
}
