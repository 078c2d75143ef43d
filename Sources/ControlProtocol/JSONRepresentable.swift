public import PylonBasics

/// Types that map to and from a ``JSON``; their `Codable` conformance goes through it, so that
/// `JSONEncoder` users and the line protocol see the same shapes.
public protocol JSONRepresentable: Codable, Sendable {
    init(json: JSON) throws(ControlProtocolError)
    var json: JSON { get }
}

extension JSONRepresentable {
    public init(from decoder: any Decoder) throws {
        let value = try JSON(from: decoder)
        do {
            try self.init(json: value)
        } catch {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }

    /// Parses the type from JSON text.
    public init(jsonText: some Collection<UInt8>) throws(ControlProtocolError) {
        try self.init(json: JSON.parse(controlLine: jsonText))
    }

    /// The compact one-line JSON text.
    public var jsonText: String { json.serialized }
}


extension JSON {
    /// Parses one control-socket line: a JSON value nested at most 128 deep, errors as
    /// ``ControlProtocolError``.
    static func parse(controlLine bytes: some Collection<UInt8>) throws(ControlProtocolError) -> JSON {
        do {
            return try JSON.parse(bytes: bytes, maxDepth: 128)
        } catch {
            throw ControlProtocolError(.invalidJSON, error.message, cause: error)
        }
    }
}
