/// A subscription id: non-empty; at most 64 characters is what relays accept everywhere.

public import PylonBasics

public typealias SubscriptionID = String

/// Messages a client sends to a relay (NIP-01, NIP-42, NIP-45).
public enum ClientMessage: Sendable, Hashable {
    case event(Event)
    case req(SubscriptionID, [Filter])
    case close(SubscriptionID)
    case auth(Event)
    case count(SubscriptionID, [Filter])

    /// Compact JSON text for the wire.
    public var jsonString: String {
        var writer = JSONWriter(capacity: 512)
        switch self {
        case .event(let event):
            writer.raw("[\"EVENT\",")
            event.write(to: &writer)
        case .req(let id, let filters), .count(let id, let filters):
            if case .req = self { writer.raw("[\"REQ\",") } else { writer.raw("[\"COUNT\",") }
            writer.string(id)
            for filter in filters {
                writer.raw(UInt8(ascii: ","))
                filter.write(to: &writer)
            }
        case .close(let id):
            writer.raw("[\"CLOSE\",")
            writer.string(id)
        case .auth(let event):
            writer.raw("[\"AUTH\",")
            event.write(to: &writer)
        }
        writer.raw(UInt8(ascii: "]"))
        return writer.string
    }

    /// Parses a client message (what a relay receives); used by tests and test relays.
    public init(json text: String) throws(NostrError) {
        let items = try messageArray(JSON.parseNostr(text))
        let type = try messageType(items)
        switch type {
        case "EVENT":
            try expectCount(items, 2, type)
            self = .event(try Event(json: items[1]))
        case "AUTH":
            try expectCount(items, 2, type)
            self = .auth(try Event(json: items[1]))
        case "REQ", "COUNT":
            guard items.count >= 2 else { throw NostrError(.invalidField, "\(type) needs a subscription id") }
            let id = try subscriptionID(items[1])
            var filters: [Filter] = []
            for item in items.dropFirst(2) { filters.append(try Filter(json: item)) }
            self = type == "REQ" ? .req(id, filters) : .count(id, filters)
        case "CLOSE":
            try expectCount(items, 2, type)
            self = .close(try subscriptionID(items[1]))
        default:
            throw NostrError(.unknownMessage, "unknown client message type \"\(type.prefix(32))\"")
        }
    }
}

/// Messages a relay sends to a client (NIP-01, NIP-42, NIP-45).
public enum RelayMessage: Sendable, Hashable {
    case event(SubscriptionID, Event)
    /// `["OK", id, accepted, message]`; the message may carry a machine prefix like `rate-limited:`.
    case ok(EventID, accepted: Bool, message: String)
    case eose(SubscriptionID)
    case closed(SubscriptionID, message: String)
    case notice(String)
    /// A NIP-42 challenge.
    case auth(challenge: String)
    case count(SubscriptionID, Int)

    /// Parses untrusted relay text into a message or throws; never traps.
    public init(json text: String) throws(NostrError) {
        try self.init(parsed: JSON.parseNostr(text))
    }

    /// Parses untrusted UTF-8 bytes (validated here) into a message or throws; never traps.
    public init(jsonBytes bytes: some Collection<UInt8>) throws(NostrError) {
        try self.init(parsed: JSON.parseNostr(bytes: bytes))
    }

    init(parsed json: JSON) throws(NostrError) {
        let items = try messageArray(json)
        let type = try messageType(items)
        switch type {
        case "EVENT":
            try expectCount(items, 3, type)
            self = .event(try subscriptionID(items[1]), try Event(json: items[2]))
        case "OK":
            guard items.count == 3 || items.count == 4 else {
                throw NostrError(.invalidField, "OK has 3 or 4 elements, got \(items.count)")
            }
            guard case .string(let idText) = items[1] else { throw NostrError(.invalidField, "OK event id must be a string") }
            guard case .bool(let accepted) = items[2] else { throw NostrError(.invalidField, "OK status must be a boolean") }
            var message = ""
            if items.count == 4 {
                guard case .string(let m) = items[3] else { throw NostrError(.invalidField, "OK message must be a string") }
                message = m
            }
            self = .ok(try EventID(hex: idText), accepted: accepted, message: message)
        case "EOSE":
            try expectCount(items, 2, type)
            self = .eose(try subscriptionID(items[1]))
        case "CLOSED":
            guard items.count == 2 || items.count == 3 else {
                throw NostrError(.invalidField, "CLOSED has 2 or 3 elements, got \(items.count)")
            }
            var message = ""
            if items.count == 3 {
                guard case .string(let m) = items[2] else { throw NostrError(.invalidField, "CLOSED message must be a string") }
                message = m
            }
            self = .closed(try subscriptionID(items[1]), message: message)
        case "NOTICE":
            try expectCount(items, 2, type)
            guard case .string(let m) = items[1] else { throw NostrError(.invalidField, "NOTICE message must be a string") }
            self = .notice(m)
        case "AUTH":
            try expectCount(items, 2, type)
            guard case .string(let challenge) = items[1] else { throw NostrError(.invalidField, "AUTH challenge must be a string") }
            self = .auth(challenge: challenge)
        case "COUNT":
            try expectCount(items, 3, type)
            guard case .integer(let n) = items[2]["count"], n >= 0, let count = Int(exactly: n) else {
                throw NostrError(.invalidField, "COUNT needs {\"count\": n}")
            }
            self = .count(try subscriptionID(items[1]), count)
        default:
            throw NostrError(.unknownMessage, "unknown relay message type \"\(type.prefix(32))\"")
        }
    }

    /// Compact JSON text (what a relay sends); used by tests and test relays.
    public var jsonString: String {
        var writer = JSONWriter(capacity: 512)
        switch self {
        case .event(let id, let event):
            writer.raw("[\"EVENT\",")
            writer.string(id)
            writer.raw(UInt8(ascii: ","))
            event.write(to: &writer)
        case .ok(let id, let accepted, let message):
            writer.raw("[\"OK\",")
            writer.hexString(id.bytes32)
            writer.raw(accepted ? ",true," : ",false,")
            writer.string(message)
        case .eose(let id):
            writer.raw("[\"EOSE\",")
            writer.string(id)
        case .closed(let id, let message):
            writer.raw("[\"CLOSED\",")
            writer.string(id)
            writer.raw(UInt8(ascii: ","))
            writer.string(message)
        case .notice(let message):
            writer.raw("[\"NOTICE\",")
            writer.string(message)
        case .auth(let challenge):
            writer.raw("[\"AUTH\",")
            writer.string(challenge)
        case .count(let id, let count):
            writer.raw("[\"COUNT\",")
            writer.string(id)
            writer.raw(",{\"count\":")
            writer.integer(Int64(count))
            writer.raw(UInt8(ascii: "}"))
        }
        writer.raw(UInt8(ascii: "]"))
        return writer.string
    }
}

/// The machine-readable prefix of an OK or CLOSED message (`rate-limited: slow down` →
/// `.rateLimited`), NIP-01 and NIP-42.
public enum RelayReason: String, Sendable, CaseIterable {
    case duplicate, pow, blocked, invalid, restricted, mute, error
    case rateLimited = "rate-limited"
    case authRequired = "auth-required"
    case unknown

    public init(message: String) {
        guard let colon = message.firstIndex(of: ":") else {
            self = .unknown
            return
        }
        self = RelayReason(rawValue: String(message[..<colon])) ?? .unknown
    }
}

private func messageArray(_ json: JSON) throws(NostrError) -> [JSON] {
    guard case .array(let items) = json else {
        throw NostrError(.invalidJSON, "a relay message is a JSON array")
    }
    return items
}

private func messageType(_ items: [JSON]) throws(NostrError) -> String {
    guard case .string(let type)? = items.first else {
        throw NostrError(.invalidField, "a relay message starts with its type as a string")
    }
    return type
}

private func expectCount(_ items: [JSON], _ count: Int, _ type: String) throws(NostrError) {
    guard items.count == count else {
        throw NostrError(.invalidField, "\(type) has \(count) elements, got \(items.count)")
    }
}

private func subscriptionID(_ value: JSON) throws(NostrError) -> SubscriptionID {
    guard case .string(let id) = value, !id.isEmpty, id.utf8.count <= 256 else {
        throw NostrError(.invalidField, "a subscription id is a non-empty string of at most 256 bytes")
    }
    return id
}
