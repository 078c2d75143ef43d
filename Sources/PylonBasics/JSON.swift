/// The one JSON value of pylon, with its strict parser and its compact writer: relay messages and
/// events (NostrCore), control-socket lines (ControlProtocol), journal data and JSON columns
/// (PylonStore) and the scheduler's `DumpState` all use it, end to end.
///
/// Written by hand rather than through `JSONSerialization` for three reasons: control (bad UTF-8,
/// lone surrogates, huge numbers, deep nesting and trailing garbage are errors, never crashes or
/// silent repairs), exactness (strings come back byte for byte, which the Nostr event id depends
/// on), and speed on the relay hot path. Objects keep their members in document order, so what
/// pylon writes reads in the order the types declare.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer literal (no fraction, no exponent) that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSON])
    /// Members in document order. Duplicate keys are rejected by the parser.
    case object([Member])

    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSON
        public init(_ key: String, _ value: JSON) {
            self.key = key
            self.value = value
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [Member]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var integerValue: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The keys of an object, in order; empty for other values.
    public var keys: [String] { objectValue?.map(\.key) ?? [] }

    /// The value as an integer, when it is one (a double with no fraction counts too).
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value):
            guard value.rounded() == value, let exact = Int64(exactly: value) else { return nil }
            return exact
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// The type of the value with its article, for error messages ("a string", "null").
    public var typeDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Reads a member of an object, or sets it: replaced in place, appended when new, removed on
    /// `nil`. Setting on a value that is not an object makes it one.
    public subscript(key: String) -> JSON? {
        get {
            guard case .object(let members) = self else { return nil }
            for member in members where member.key == key { return member.value }
            return nil
        }
        set {
            var members = objectValue ?? []
            let index = members.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let index?, let value?): members[index].value = value
            case (let index?, nil): members.remove(at: index)
            case (nil, let value?): members.append(Member(key, value))
            case (nil, nil): break
            }
            self = .object(members)
        }
    }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    /// An object with the members in the literal's order; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var object = JSON.object([])
        for (key, value) in elements { object[key] = value }
        self = object
    }
}

extension JSON {
    /// Parses one JSON document; anything after it other than whitespace is an error.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSON {
        var text = text
        let result = text.withUTF8 { buffer in
            Result { () throws(JSONError) in try parse(utf8: UnsafeRawBufferPointer(buffer), maxDepth: maxDepth) }
        }
        return try result.get()
    }

    /// Parses one JSON document from UTF-8 bytes (validated here).
    public static func parse(bytes: some Collection<UInt8>, maxDepth: Int = 64) throws(JSONError) -> JSON {
        if let result = bytes.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(JSONError) in try parse(utf8: UnsafeRawBufferPointer(buffer), maxDepth: maxDepth) }
        }) {
            return try result.get()
        }
        let array = Array(bytes)
        let result = array.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(utf8: raw, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    static func parse(utf8: UnsafeRawBufferPointer, maxDepth: Int) throws(JSONError) -> JSON {
        var parser = JSONParser(bytes: utf8, maxDepth: maxDepth)
        let value = try parser.parseDocument()
        return value
    }
}

/// A recursive-descent parser over a byte buffer. Each nesting level costs one frame; depth is
/// bounded so hostile input cannot exhaust the stack.
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var index = 0
    var depth = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the JSON value") }
        return value
    }

    func error(_ message: String) -> JSONError {
        JSONError(.invalid, "not valid JSON: \(message) at byte \(index)")
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONError) -> JSON {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let matches = literal.withUTF8Buffer { lit in
            for i in 0..<count where bytes[index + i] != lit[i] { return false }
            return true
        }
        guard matches else { throw error("invalid literal") }
        index += count
    }

    mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
    }

    mutating func parseArray() throws(JSONError) -> JSON {
        try enter()
        index += 1  // [
        var elements: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated array") }
            let c = bytes[index]
            index += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { break }
            throw error("expected ',' or ']' in array")
        }
        depth -= 1
        return .array(elements)
    }

    mutating func parseObject() throws(JSONError) -> JSON {
        try enter()
        index += 1  // {
        var members: [JSON.Member] = []
        var keys = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            // Duplicate keys: a scan while the object is small (events have 7 members), a set
            // beyond, so that an object of very many keys still parses in linear time.
            if members.count < 16 {
                for member in members where member.key == key { throw error("duplicate key \"\(key.prefix(64))\"") }
            } else {
                if keys.isEmpty { keys = Set(members.map(\.key)) }
                guard keys.insert(key).inserted else { throw error("duplicate key \"\(key.prefix(64))\"") }
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            index += 1
            skipWhitespace()
            members.append(JSON.Member(key, try parseValue()))
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated object") }
            let c = bytes[index]
            index += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw error("expected ',' or '}' in object")
        }
        depth -= 1
        return .object(members)
    }

    mutating func parseNumber() throws(JSONError) -> JSON {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("unexpected end of number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error("invalid fraction") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error("invalid exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw error("number out of range") }
        return .double(value)
    }

    /// Parses a string literal, validating UTF-8 and escapes. The fast path copies runs of plain
    /// bytes; escapes are decoded into a scratch buffer only when present.
    mutating func parseString() throws(JSONError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. ASCII needs no UTF-8 validation (`String(validating:)` is generic
        // code that looks up its type metadata at run time, for every string of every message).
        var highBits: UInt8 = 0
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if highBits < 0x80 { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("unescaped control character in string") }
            highBits |= c
            index += 1
        }
        guard index < bytes.count else { throw error("unterminated string") }
        // Slow path: escapes present.
        var scratch = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let c = bytes[index]
            switch c {
            case UInt8(ascii: "\""):
                index += 1
                guard let s = String(validating: scratch, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return s
            case UInt8(ascii: "\\"):
                index += 1
                if let problem = JSONEscape.decode(bytes, at: &index, into: &scratch) { throw error(problem) }
            default:
                if c < 0x20 { throw error("unescaped control character in string") }
                scratch.append(c)
                index += 1
            }
        }
        throw error("unterminated string")
    }
}

/// Writes compact JSON with the NIP-01 string escaping: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`,
/// other control characters as lowercase `\u00xx`, and everything else (including `/` and all
/// non-ASCII) verbatim. The same bytes serve the event-id preimage and the wire.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    public mutating func raw(_ byte: UInt8) { bytes.append(byte) }

    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func integer(_ value: Int64) {
        if value >= 0 && value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        bytes.append(contentsOf: String(value).utf8)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                runStart = i + 1
                bytes.append(UInt8(ascii: "\\"))
                switch c {
                case 0x22: bytes.append(0x22)
                case 0x5C: bytes.append(0x5C)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    bytes.append(Self.hexDigits[Int(c >> 4)])
                    bytes.append(Self.hexDigits[Int(c & 0x0F)])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes bytes as a lowercase hex JSON string without an intermediate `String`.
    public mutating func hexString(bytes raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        for b in raw {
            bytes.append(Self.hexDigits[Int(b >> 4)])
            bytes.append(Self.hexDigits[Int(b & 0x0F)])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func stringArray(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(v)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes any JSON value.
    public mutating func value(_ json: JSON) {
        switch json {
        case .null: raw("null")
        case .bool(let b): b ? raw("true") : raw("false")
        case .integer(let i): integer(i)
        case .double(let d):
            if !d.isFinite {
                raw("null")  // JSON has no infinity or NaN; the parser never makes one
            } else if d == d.rounded(), abs(d) < 9.0e15 {
                integer(Int64(d))
            } else {
                // Swift's shortest round-trip form ("1.5", "1e-05") is valid JSON.
                bytes.append(contentsOf: "\(d)".utf8)
            }
        case .string(let s): string(s)
        case .array(let a):
            raw(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { raw(UInt8(ascii: ",")) }
                value(v)
            }
            raw(UInt8(ascii: "]"))
        case .object(let members):
            raw(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { raw(UInt8(ascii: ",")) }
                string(m.key)
                raw(UInt8(ascii: ":"))
                value(m.value)
            }
            raw(UInt8(ascii: "}"))
        }
    }
}

extension JSON {
    /// Compact JSON text with NIP-01 escaping.
    public var serialized: String {
        var writer = JSONWriter()
        writer.value(self)
        return writer.string
    }
}
