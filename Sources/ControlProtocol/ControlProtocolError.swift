import Foundation

/// An error reading or writing a control-socket message.
///
/// The `message` is one sentence a user can act on; the control server sends it back as
/// `{"Error": message}`.
public struct ControlProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A small stable code, for tests and metrics.
    public enum Code: String, Sendable, Equatable {
        /// The bytes are not one valid JSON value.
        case invalidJSON = "invalid_json"
        /// Valid JSON that is not a known request or response shape.
        case invalidMessage = "invalid_message"
        /// A request or response name that this version does not know.
        case unknownMessage = "unknown_message"
        /// A line longer than the limit.
        case tooLarge = "too_large"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Reads typed members of a JSON object and produces precise errors ("SubmitJob.max_tokens: expected
/// an integer, got a string").
struct ObjectReader {
    let object: JSONObject
    /// Where the object sits, for messages: "SubmitJob", "Status.queue".
    let path: String

    init(_ value: JSONValue, path: String) throws(ControlProtocolError) {
        guard let object = value.objectValue else {
            throw ControlProtocolError(.invalidMessage, "\(path): expected an object, got \(value.typeDescription)")
        }
        self.object = object
        self.path = path
    }

    private func fail(_ key: String, _ expected: String, _ value: JSONValue) -> ControlProtocolError {
        ControlProtocolError(.invalidMessage, "\(path).\(key): expected \(expected), got \(value.typeDescription)")
    }

    private func required(_ key: String) throws(ControlProtocolError) -> JSONValue {
        guard let value = object[key] else {
            throw ControlProtocolError(.invalidMessage, "\(path): missing \"\(key)\"")
        }
        return value
    }

    /// Rejects members other than `allowed`: requests are strict so that a typo is an error, not a
    /// silently ignored option.
    func rejectUnknown(_ allowed: Set<String>) throws(ControlProtocolError) {
        for key in object.keys where !allowed.contains(key) {
            let list = allowed.sorted().joined(separator: ", ")
            throw ControlProtocolError(.invalidMessage, "\(path): unknown field \"\(key)\" (known: \(list))")
        }
    }

    func bool(_ key: String) throws(ControlProtocolError) -> Bool {
        let value = try required(key)
        guard let bool = value.boolValue else { throw fail(key, "a boolean", value) }
        return bool
    }

    func optionalBool(_ key: String) throws(ControlProtocolError) -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let bool = value.boolValue else { throw fail(key, "a boolean", value) }
        return bool
    }

    func string(_ key: String) throws(ControlProtocolError) -> String {
        let value = try required(key)
        guard let string = value.stringValue else { throw fail(key, "a string", value) }
        return string
    }

    func optionalString(_ key: String) throws(ControlProtocolError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let string = value.stringValue else { throw fail(key, "a string", value) }
        return string
    }

    func int<I: FixedWidthInteger>(_ key: String, as type: I.Type = I.self) throws(ControlProtocolError) -> I {
        let value = try required(key)
        return try integer(key, value)
    }

    func optionalInt<I: FixedWidthInteger>(_ key: String, as type: I.Type = I.self) throws(ControlProtocolError) -> I? {
        guard let value = object[key], !value.isNull else { return nil }
        return try integer(key, value)
    }

    private func integer<I: FixedWidthInteger>(_ key: String, _ value: JSONValue) throws(ControlProtocolError) -> I {
        let expected = I.isSigned ? "an integer" : "a non-negative integer"
        guard let wide = value.int64Value, let narrow = I(exactly: wide) else { throw fail(key, expected, value) }
        return narrow
    }

    func date(_ key: String) throws(ControlProtocolError) -> Date {
        let value = try required(key)
        guard let text = value.stringValue, let date = RFC3339.date(from: text) else {
            throw fail(key, "an RFC 3339 time", value)
        }
        return date
    }

    func optionalDate(_ key: String) throws(ControlProtocolError) -> Date? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue, let date = RFC3339.date(from: text) else {
            throw fail(key, "an RFC 3339 time or null", value)
        }
        return date
    }

    func array(_ key: String) throws(ControlProtocolError) -> [JSONValue] {
        let value = try required(key)
        guard let array = value.arrayValue else { throw fail(key, "an array", value) }
        return array
    }

    func object(_ key: String) throws(ControlProtocolError) -> ObjectReader {
        try ObjectReader(required(key), path: "\(path).\(key)")
    }

    func jsonObject(_ key: String) throws(ControlProtocolError) -> JSONObject {
        let value = try required(key)
        guard let object = value.objectValue else { throw fail(key, "an object", value) }
        return object
    }

    /// Maps each element of an array member, naming the element in errors.
    func map<T>(_ key: String, _ transform: (JSONValue, String) throws(ControlProtocolError) -> T) throws(ControlProtocolError) -> [T] {
        var result: [T] = []
        for (offset, element) in try array(key).enumerated() {
            result.append(try transform(element, "\(path).\(key)[\(offset)]"))
        }
        return result
    }
}

