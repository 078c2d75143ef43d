import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads typed members of a JSON object and produces precise errors ("SubmitJob.max_tokens: expected
/// an integer, got a string").
struct ObjectReader {
    /// Always an object.
    let object: JSON
    /// Where the object sits, for messages: "SubmitJob", "Status.queue".
    let path: String

    init(_ value: JSON, path: String) throws(ControlProtocolError) {
        guard value.objectValue != nil else {
            throw ControlProtocolError(.invalidMessage, "\(path): expected an object, got \(value.typeDescription)")
        }
        self.object = value
        self.path = path
    }

    private func fail(_ key: String, _ expected: String, _ value: JSON) -> ControlProtocolError {
        ControlProtocolError(.invalidMessage, "\(path).\(key): expected \(expected), got \(value.typeDescription)")
    }

    private func required(_ key: String) throws(ControlProtocolError) -> JSON {
        guard let value = object[key] else {
            throw ControlProtocolError(.invalidMessage, "\(path): missing \"\(key)\"")
        }
        return value
    }

    /// Rejects members other than `allowed`: requests are strict so that a typo is an error, not a
    /// silently ignored option.
    func rejectUnknown(_ allowed: Set<String>) throws(ControlProtocolError) {
        for key in (object.objectValue ?? []).map(\.key) where !allowed.contains(key) {
            let list = allowed.sorted().joined(separator: ", ")
            throw ControlProtocolError(.invalidMessage, "\(path): unknown field \"\(key)\" (known: \(list))")
        }
    }

    /// The member `key` made into a value by `read`; a value it refuses is an error that says
    /// what was `expected` ("a string") and what came.
    func member<Value>(_ key: String, _ expected: String, _ read: (JSON) -> Value?) throws(ControlProtocolError) -> Value {
        let value = try required(key)
        guard let result = read(value) else { throw fail(key, expected, value) }
        return result
    }

    /// As ``member(_:_:_:)``, for a member that may be missing or null.
    func optionalMember<Value>(_ key: String, _ expected: String, _ read: (JSON) -> Value?) throws(ControlProtocolError) -> Value? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let result = read(value) else { throw fail(key, expected, value) }
        return result
    }

    func bool(_ key: String) throws(ControlProtocolError) -> Bool { try member(key, "a boolean", \.boolValue) }
    func optionalBool(_ key: String) throws(ControlProtocolError) -> Bool? { try optionalMember(key, "a boolean", \.boolValue) }
    func string(_ key: String) throws(ControlProtocolError) -> String { try member(key, "a string", \.stringValue) }
    func optionalString(_ key: String) throws(ControlProtocolError) -> String? { try optionalMember(key, "a string", \.stringValue) }

    func int<I: FixedWidthInteger>(_ key: String, as type: I.Type = I.self) throws(ControlProtocolError) -> I {
        let value = try required(key)
        return try integer(key, value)
    }

    func optionalInt<I: FixedWidthInteger>(_ key: String, as type: I.Type = I.self) throws(ControlProtocolError) -> I? {
        guard let value = object[key], !value.isNull else { return nil }
        return try integer(key, value)
    }

    private func integer<I: FixedWidthInteger>(_ key: String, _ value: JSON) throws(ControlProtocolError) -> I {
        let expected = I.isSigned ? "an integer" : "a non-negative integer"
        guard let wide = value.int64Value, let narrow = I(exactly: wide) else { throw fail(key, expected, value) }
        return narrow
    }

    static func date(_ json: JSON) -> Date? { json.stringValue.flatMap(RFC3339.date(from:)) }
    func date(_ key: String) throws(ControlProtocolError) -> Date { try member(key, "an RFC 3339 time", Self.date) }
    func optionalDate(_ key: String) throws(ControlProtocolError) -> Date? { try optionalMember(key, "an RFC 3339 time or null", Self.date) }

    func array(_ key: String) throws(ControlProtocolError) -> [JSON] {
        let value = try required(key)
        guard let array = value.arrayValue else { throw fail(key, "an array", value) }
        return array
    }

    func object(_ key: String) throws(ControlProtocolError) -> ObjectReader {
        try ObjectReader(required(key), path: "\(path).\(key)")
    }

    func jsonObject(_ key: String) throws(ControlProtocolError) -> JSON {
        let value = try required(key)
        guard value.objectValue != nil else { throw fail(key, "an object", value) }
        return value
    }

    /// Maps each element of an array member, naming the element in errors.
    func map<T>(_ key: String, _ transform: (JSON, String) throws(ControlProtocolError) -> T) throws(ControlProtocolError) -> [T] {
        var result: [T] = []
        for (offset, element) in try array(key).enumerated() {
            result.append(try transform(element, "\(path).\(key)[\(offset)]"))
        }
        return result
    }
}

