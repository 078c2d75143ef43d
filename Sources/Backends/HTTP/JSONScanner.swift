import PylonBasics

/// A small, strict reader for the JSON objects inference servers stream, one per token.
///
/// `JSONDecoder` costs several microseconds a line, which is most of pylon's work per token. The
/// decoders read the few fields they need with this scanner instead, and fall back to
/// `JSONDecoder` whenever it returns nil: on anything it does not handle (escaped keys, numbers
/// that are not plain integers, deep nesting) as on anything malformed. So `JSONDecoder` has the
/// last word on every line the scanner does not accept, and the scanner accepts a line only when
/// it reads the same values `JSONDecoder` would.
///
/// Bounds: every read checks the index; nesting deeper than ``maxDepth`` is refused.
struct JSONScanner {
    static let maxDepth = 32

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    // MARK: Structure

    /// Reads an object, calling `field` with each key (raw bytes, no escapes) with the scanner at
    /// the value; `field` must consume the value and return whether it could.
    mutating func object(_ field: (inout JSONScanner, UnsafeRawBufferPointer) -> Bool) -> Bool {
        skipWhitespace()
        guard consume(UInt8(ascii: "{")), enter() else { return false }
        defer { depth -= 1 }
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            skipWhitespace()
            guard let key = rawKey() else { return false }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            guard field(&self, key) else { return false }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}"))
        }
    }

    /// Reads an array, calling `element` with the scanner at each element.
    mutating func array(_ element: (inout JSONScanner) -> Bool) -> Bool {
        skipWhitespace()
        guard consume(UInt8(ascii: "[")), enter() else { return false }
        defer { depth -= 1 }
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return true }
        while true {
            skipWhitespace()
            guard element(&self) else { return false }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "]"))
        }
    }

    /// Only whitespace is left.
    mutating func atEnd() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    /// `null`, consumed; false (and nothing consumed) for anything else.
    mutating func null() -> Bool {
        skipWhitespace()
        return literal("null")
    }

    // MARK: Values

    /// A string or null into `value`.
    mutating func optionalString(_ value: inout String?) -> Bool {
        if null() {
            value = nil
            return true
        }
        guard let string = string() else { return false }
        value = string
        return true
    }

    /// A plain integer (no fraction, no exponent) or null into `value`.
    mutating func optionalInt(_ value: inout Int?) -> Bool {
        if null() {
            value = nil
            return true
        }
        guard let int = int() else { return false }
        value = int
        return true
    }

    /// `true`, `false` or null into `value`.
    mutating func optionalBool(_ value: inout Bool?) -> Bool {
        skipWhitespace()
        if literal("true") {
            value = true
        } else if literal("false") {
            value = false
        } else if literal("null") {
            value = nil
        } else {
            return false
        }
        return true
    }

    /// A string, escapes decoded; nil for anything invalid (bad escape, lone surrogate, control
    /// character, invalid UTF-8).
    mutating func string() -> String? {
        skipWhitespace()
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var escaped = false
        var highBits: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { return nil }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
            } else {
                highBits |= byte
                index += 1
            }
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        index += 1
        // ASCII is valid UTF-8 as it is; anything else is checked (generic, slower).
        if !escaped { return highBits < 0x80 ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self) }
        return Self.unescape(raw)
    }

    /// A plain integer; nil for fractions, exponents, leading zeros, overflow.
    mutating func int() -> Int? {
        skipWhitespace()
        var negative = false
        if peek == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard let first = peek, Self.isDigit(first) else { return nil }
        if first == UInt8(ascii: "0"), index + 1 < bytes.count, Self.isDigit(bytes[index + 1]) { return nil }
        var value = 0
        while let byte = peek, Self.isDigit(byte) {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let digit = Int(byte - UInt8(ascii: "0"))
            let (sum, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        if let byte = peek, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            return nil
        }
        return value
    }

    /// Skips any value, checking its syntax.
    mutating func skipValue() -> Bool {
        skipWhitespace()
        guard let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"): return object { scanner, _ in scanner.skipValue() }
        case UInt8(ascii: "["): return array { scanner in scanner.skipValue() }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return skipNumber()
        default: return false
        }
    }

    // MARK: Pieces

    private var peek: UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    private mutating func enter() -> Bool {
        depth += 1
        guard depth <= Self.maxDepth else {
            depth -= 1
            return false
        }
        return true
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let matches = word.withUTF8Buffer { expected in
            UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]).elementsEqual(expected)
        }
        if matches { index += count }
        return matches
    }

    /// A key's bytes; nil when it has escapes (then `JSONDecoder` decides).
    private mutating func rawKey() -> UnsafeRawBufferPointer? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while let byte = peek, byte != UInt8(ascii: "\"") {
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        guard consume(UInt8(ascii: "\"")) else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<index - 1])
    }

    private mutating func skipString() -> Bool {
        guard consume(UInt8(ascii: "\"")) else { return false }
        while let byte = peek {
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return true
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = peek else { return false }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard JSONEscape.hex4(bytes, at: index + 1) != nil else { return false }
                    index += 5
                default:
                    return false
                }
            case 0..<0x20:
                return false
            default:
                index += 1
            }
        }
        return false
    }

    private mutating func skipNumber() -> Bool {
        _ = consume(UInt8(ascii: "-"))
        guard let first = peek, Self.isDigit(first) else { return false }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek, Self.isDigit(byte) { index += 1 }
        }
        if consume(UInt8(ascii: ".")) {
            guard let byte = peek, Self.isDigit(byte) else { return false }
            while let byte = peek, Self.isDigit(byte) { index += 1 }
        }
        if let byte = peek, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            index += 1
            if let sign = peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek, Self.isDigit(byte) else { return false }
            while let byte = peek, Self.isDigit(byte) { index += 1 }
        }
        return true
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Decodes the escapes of a string's contents (between the quotes), with the escape decoding
    /// the ``JSON`` parser uses.
    private static func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            if JSONEscape.decode(raw, at: &index, into: &out) != nil { return nil }
        }
        return String(validating: out, as: UTF8.self)
    }
}

extension UnsafeRawBufferPointer {
    /// Whether the bytes are exactly `text` (ASCII).
    static func == (bytes: UnsafeRawBufferPointer, text: StaticString) -> Bool {
        text.withUTF8Buffer { expected in bytes.elementsEqual(expected) }
    }
}
