import Foundation
import PylonBasics

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

    private func integer<I: FixedWidthInteger>(_ key: String, _ value: JSON) throws(ControlProtocolError) -> I {
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

