import NostrCore
import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the store writes values into JSON (journal data, JSON columns) and reads JSON columns back,
/// so that each entry reads as its list of members.
enum StoreJSON {
    static func object(_ members: KeyValuePairs<String, JSON>) -> JSON {
        .object(members.map { JSON.Member($0.key, $0.value) })
    }

    static func text(_ value: String?) -> JSON {
        value.map { .string($0) } ?? .null
    }

    static func int(_ value: (some BinaryInteger)?) -> JSON {
        value.map { .integer(Int64(clamping: $0)) } ?? .null
    }

    static func time(_ value: Date?) -> JSON {
        value.map { .string(RFC3339.string(from: $0)) } ?? .null
    }

    static func strings(_ values: [String]) -> JSON {
        .array(values.map { .string($0) })
    }

    /// An event as the JSON object NIP-01 gives it; serialized, the same bytes as `Event.jsonString`.
    static func event(_ event: Event) -> JSON {
        object([
            "id": .string(event.id.hex),
            "pubkey": .string(event.pubkey.hex),
            "created_at": .integer(event.createdAt),
            "kind": .integer(Int64(event.kind.rawValue)),
            "tags": .array(event.tags.map { strings($0.fields) }),
            "content": .string(event.content),
            "sig": .string(event.sig.hex),
        ])
    }

    /// Parses a JSON column; a value that does not parse is corrupt data.
    static func parse(_ text: String, column: String) throws -> JSON {
        do {
            return try JSON.parse(text)
        } catch {
            throw PylonStoreError(.corruptData, "column \(column) holds text that is not JSON: \(error.message)", cause: error)
        }
    }

    static func parseStrings(_ text: String, column: String) throws -> [String] {
        guard case .array(let items) = try parse(text, column: column) else {
            throw PylonStoreError(.corruptData, "column \(column) is not a JSON array")
        }
        var strings: [String] = []
        strings.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { throw PylonStoreError(.corruptData, "column \(column) is not an array of strings") }
            strings.append(s)
        }
        return strings
    }
}

/// Reads the members of one journal entry's data, with errors that name the entry.
struct DataReader {
    let data: JSON
    /// Names the object in errors: "journal entry 12 (job.admitted)".
    let context: String

    init(_ record: JournalRecord) {
        self.data = record.data
        self.context = "journal entry \(record.seq) (\(record.kind))"
    }

    init(_ data: JSON, context: String) {
        self.data = data
        self.context = context
    }

    func fail(_ key: String, _ problem: String) -> PylonStoreError {
        PylonStoreError(.corruptData, "\(context): member \"\(key)\" \(problem)")
    }

    func value(_ key: String) throws(PylonStoreError) -> JSON {
        guard let value = data[key] else { throw fail(key, "is missing") }
        return value
    }

    func optional(_ key: String) -> JSON? {
        guard let value = data[key], value != .null else { return nil }
        return value
    }

    /// The member `key` made into a value by `read`; a value `read` refuses is `problem`.
    func member<Value>(_ key: String, _ problem: String, _ read: (JSON) -> Value?) throws(PylonStoreError) -> Value {
        guard let result = read(try value(key)) else { throw fail(key, problem) }
        return result
    }

    /// As ``member(_:_:_:)``, for a member that may be missing or null.
    func optionalMember<Value>(_ key: String, _ problem: String, _ read: (JSON) -> Value?) throws(PylonStoreError) -> Value? {
        guard let value = optional(key) else { return nil }
        guard let result = read(value) else { throw fail(key, problem) }
        return result
    }

    static func int(_ json: JSON) -> Int? { json.integerValue.flatMap { Int(exactly: $0) } }
    static func date(_ json: JSON) -> Date? { json.stringValue.flatMap(RFC3339.date(from:)) }
    static func eventID(_ json: JSON) -> EventID? { json.stringValue.flatMap { try? EventID(hex: $0) } }
    static func publicKey(_ json: JSON) -> PublicKey? { json.stringValue.flatMap { try? PublicKey(hex: $0) } }

    func string(_ key: String) throws(PylonStoreError) -> String { try member(key, "is not a string", \.stringValue) }
    func optionalString(_ key: String) throws(PylonStoreError) -> String? { try optionalMember(key, "is not a string", \.stringValue) }
    func int64(_ key: String) throws(PylonStoreError) -> Int64 { try member(key, "is not an integer", \.integerValue) }
    func optionalInt64(_ key: String) throws(PylonStoreError) -> Int64? { try optionalMember(key, "is not an integer", \.integerValue) }
    func int(_ key: String) throws(PylonStoreError) -> Int { try member(key, "is not an integer in range", Self.int) }
    func optionalInt(_ key: String) throws(PylonStoreError) -> Int? { try optionalMember(key, "is not an integer in range", Self.int) }
    func bool(_ key: String) throws(PylonStoreError) -> Bool { try member(key, "is not a boolean", \.boolValue) }
    func optionalBool(_ key: String) throws(PylonStoreError) -> Bool? { try optionalMember(key, "is not a boolean", \.boolValue) }
    func date(_ key: String) throws(PylonStoreError) -> Date { try member(key, "is not an RFC 3339 time", Self.date) }
    func optionalDate(_ key: String) throws(PylonStoreError) -> Date? { try optionalMember(key, "is not an RFC 3339 time", Self.date) }
    func eventID(_ key: String) throws(PylonStoreError) -> EventID { try member(key, "is not an event id", Self.eventID) }
    func optionalEventID(_ key: String) throws(PylonStoreError) -> EventID? { try optionalMember(key, "is not an event id", Self.eventID) }
    func publicKey(_ key: String) throws(PylonStoreError) -> PublicKey { try member(key, "is not a public key", Self.publicKey) }
    func optionalPublicKey(_ key: String) throws(PylonStoreError) -> PublicKey? { try optionalMember(key, "is not a public key", Self.publicKey) }

    func strings(_ key: String) throws(PylonStoreError) -> [String] {
        guard case .array(let items) = try value(key) else { throw fail(key, "is not an array") }
        var strings: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw fail(key, "is not an array of strings") }
            strings.append(s)
        }
        return strings
    }
}
