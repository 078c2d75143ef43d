import Foundation
import NostrCore
import PylonBasics

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

    func optionalPublicKey(_ key: String) throws(PylonStoreError) -> PublicKey? {
        guard optional(key) != nil else { return nil }
        return try publicKey(key)
    }

    func string(_ key: String) throws(PylonStoreError) -> String {
        guard case .string(let s) = try value(key) else { throw fail(key, "is not a string") }
        return s
    }

    func optionalString(_ key: String) throws(PylonStoreError) -> String? {
        guard let value = optional(key) else { return nil }
        guard case .string(let s) = value else { throw fail(key, "is not a string") }
        return s
    }

    func int64(_ key: String) throws(PylonStoreError) -> Int64 {
        guard case .integer(let i) = try value(key) else { throw fail(key, "is not an integer") }
        return i
    }

    func optionalInt64(_ key: String) throws(PylonStoreError) -> Int64? {
        guard let value = optional(key) else { return nil }
        guard case .integer(let i) = value else { throw fail(key, "is not an integer") }
        return i
    }

    func int(_ key: String) throws(PylonStoreError) -> Int {
        guard let i = Int(exactly: try int64(key)) else { throw fail(key, "is out of range") }
        return i
    }

    func optionalInt(_ key: String) throws(PylonStoreError) -> Int? {
        guard let value = try optionalInt64(key) else { return nil }
        guard let i = Int(exactly: value) else { throw fail(key, "is out of range") }
        return i
    }

    func bool(_ key: String) throws(PylonStoreError) -> Bool {
        guard case .bool(let b) = try value(key) else { throw fail(key, "is not a boolean") }
        return b
    }

    func optionalBool(_ key: String) throws(PylonStoreError) -> Bool? {
        guard let value = optional(key) else { return nil }
        guard case .bool(let b) = value else { throw fail(key, "is not a boolean") }
        return b
    }

    func strings(_ key: String) throws(PylonStoreError) -> [String] {
        guard case .array(let items) = try value(key) else { throw fail(key, "is not an array") }
        var strings: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw fail(key, "is not an array of strings") }
            strings.append(s)
        }
        return strings
    }

    func date(_ key: String) throws(PylonStoreError) -> Date {
        guard let date = RFC3339.date(from: try string(key)) else { throw fail(key, "is not an RFC 3339 time") }
        return date
    }

    func optionalDate(_ key: String) throws(PylonStoreError) -> Date? {
        guard let text = try optionalString(key) else { return nil }
        guard let date = RFC3339.date(from: text) else { throw fail(key, "is not an RFC 3339 time") }
        return date
    }

    func eventID(_ key: String) throws(PylonStoreError) -> EventID {
        let text = try string(key)
        guard let id = try? EventID(hex: text) else { throw fail(key, "is not an event id") }
        return id
    }

    func optionalEventID(_ key: String) throws(PylonStoreError) -> EventID? {
        guard let text = try optionalString(key) else { return nil }
        guard let id = try? EventID(hex: text) else { throw fail(key, "is not an event id") }
        return id
    }

    func publicKey(_ key: String) throws(PylonStoreError) -> PublicKey {
        let text = try string(key)
        guard let publicKey = try? PublicKey(hex: text) else { throw fail(key, "is not a public key") }
        return publicKey
    }
}
