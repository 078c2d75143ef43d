internal import Crypto
public import PylonBasics

/// The 32-byte id of an event: the SHA-256 of its canonical serialization (NIP-01).
public struct EventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes32: Bytes32

    public init(_ bytes32: Bytes32) { self.bytes32 = bytes32 }

    /// Parses 64 lowercase hex characters (NIP-01 form).
    public init(hex: some StringProtocol) throws(NostrError) {
        guard Hex.isLowercase(hex, length: 64), let value = Bytes32(hex: hex) else {
            throw NostrError(.invalidHex, "an event id is 64 lowercase hex characters")
        }
        bytes32 = value
    }

    public var hex: String { bytes32.hex }
    public var description: String { hex }
    public static func < (lhs: EventID, rhs: EventID) -> Bool { lhs.bytes32 < rhs.bytes32 }
}

/// An event kind (0…65535) and the NIP-01 classes of kinds.
public struct Kind: RawRepresentable, Hashable, Sendable, Comparable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt16) { self.rawValue = value }

    public var description: String { String(rawValue) }
    public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let metadata: Kind = 0
    public static let textNote: Kind = 1
    public static let encryptedDirectMessage: Kind = 4
    public static let deletion: Kind = 5
    public static let jobFeedback: Kind = 7000
    public static let heartbeat: Kind = 11998
    public static let walletInfo: Kind = 13194
    public static let clientAuthentication: Kind = 22242
    public static let walletRequest: Kind = 23194
    public static let walletResponse: Kind = 23195
    public static let walletNotification: Kind = 23197
    public static let handlerInformation: Kind = 31990

    /// Stored by relays (NIP-01).
    public var isRegular: Bool {
        rawValue == 1 || rawValue == 2 || (4..<45).contains(rawValue) || (1000..<10000).contains(rawValue)
    }
    /// Only the latest per (pubkey, kind) is kept.
    public var isReplaceable: Bool { rawValue == 0 || rawValue == 3 || (10000..<20000).contains(rawValue) }
    /// Not stored by relays.
    public var isEphemeral: Bool { (20000..<30000).contains(rawValue) }
    /// Only the latest per (kind, pubkey, d tag) is kept.
    public var isAddressable: Bool { (30000..<40000).contains(rawValue) }

    /// A NIP-90 job request (5000–5999).
    public var isJobRequest: Bool { (5000..<6000).contains(rawValue) }
    /// A NIP-90 job result (6000–6999).
    public var isJobResult: Bool { (6000..<7000).contains(rawValue) }
}

/// One tag: a name and its values, all strings (NIP-01).
public struct Tag: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var fields: [String]

    public init(_ fields: [String]) { self.fields = fields }
    public init(arrayLiteral elements: String...) { self.fields = elements }

    /// The tag name (`fields[0]`), or "" for an empty tag.
    public var name: String { fields.first ?? "" }
    /// The first value (`fields[1]`), the one relays index.
    public var value: String? { fields.count > 1 ? fields[1] : nil }
    /// The value at a position, or nil when the tag is shorter.
    public subscript(position: Int) -> String? { position < fields.count ? fields[position] : nil }

    public var description: String { "[" + fields.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
}

extension Array where Element == Tag {
    /// The first tag with this name.
    public func first(named name: String) -> Tag? { first { $0.name == name } }
    /// Every tag with this name.
    public func all(named name: String) -> [Tag] { filter { $0.name == name } }
}

/// The fields of an event before signing. Its id is derived; signing fixes the pubkey.
public struct UnsignedEvent: Sendable, Hashable {
    public var pubkey: PublicKey
    public var createdAt: Int64
    public var kind: Kind
    public var tags: [Tag]
    public var content: String

    public init(pubkey: PublicKey, createdAt: Int64, kind: Kind, tags: [Tag] = [], content: String = "") {
        self.pubkey = pubkey
        self.createdAt = createdAt
        self.kind = kind
        self.tags = tags
        self.content = content
    }

    /// `[0,pubkey,created_at,kind,tags,content]` as compact UTF-8 with NIP-01 escaping; hand-written
    /// because Foundation's encoders escape `/`, which changes the id.
    public var canonicalSerialization: [UInt8] {
        var writer = JSONWriter(capacity: 128 + content.utf8.count + tags.count * 80)
        writer.raw("[0,")
        writer.hexString(pubkey.bytes32)
        writer.raw(UInt8(ascii: ","))
        writer.integer(createdAt)
        writer.raw(UInt8(ascii: ","))
        writer.integer(Int64(kind.rawValue))
        writer.raw(UInt8(ascii: ","))
        writer.raw(UInt8(ascii: "["))
        for (i, tag) in tags.enumerated() {
            if i > 0 { writer.raw(UInt8(ascii: ",")) }
            writer.stringArray(tag.fields)
        }
        writer.raw(UInt8(ascii: "]"))
        writer.raw(UInt8(ascii: ","))
        writer.string(content)
        writer.raw(UInt8(ascii: "]"))
        return writer.bytes
    }

    /// The NIP-01 id: SHA-256 of the canonical serialization.
    public var id: EventID {
        let digest = SHA256.hash(data: canonicalSerialization)
        return EventID(digest.withUnsafeBytes { Bytes32($0)! })
    }

    /// Signs with fresh auxiliary randomness (or the given `auxRand`, for test vectors).
    /// The keypair's public key replaces `pubkey`.
    public func sign(with keypair: Keypair, auxRand: Bytes32? = nil) -> Event {
        var unsigned = self
        unsigned.pubkey = keypair.publicKey
        let id = unsigned.id
        let sig = Schnorr.sign(id.bytes32, with: keypair, auxRand: auxRand)
        return Event(id: id, pubkey: unsigned.pubkey, createdAt: createdAt, kind: kind, tags: tags, content: content, sig: sig)
    }
}

/// A signed Nostr event (NIP-01).
///
/// Parsing checks the shape of every field; ``verify()`` checks that the id matches the content
/// and that the signature is valid. Events from the network must be verified before use.
public struct Event: Sendable, Hashable, Identifiable {
    public let id: EventID
    public let pubkey: PublicKey
    public let createdAt: Int64
    public let kind: Kind
    public let tags: [Tag]
    public let content: String
    public let sig: Signature

    public init(id: EventID, pubkey: PublicKey, createdAt: Int64, kind: Kind, tags: [Tag], content: String, sig: Signature) {
        self.id = id
        self.pubkey = pubkey
        self.createdAt = createdAt
        self.kind = kind
        self.tags = tags
        self.content = content
        self.sig = sig
    }

    /// The signed fields without the id and signature.
    public var unsigned: UnsignedEvent {
        UnsignedEvent(pubkey: pubkey, createdAt: createdAt, kind: kind, tags: tags, content: content)
    }

    /// True when `id` is the hash of the fields.
    public var hasValidID: Bool { unsigned.id == id }

    /// True when the signature verifies against `pubkey` over `id`.
    public var hasValidSignature: Bool { Schnorr.verify(sig, hash: id.bytes32, publicKey: pubkey) }

    /// Checks the id, then the signature; throws `.invalidID` or `.invalidSignature`.
    public func verify() throws(NostrError) {
        guard hasValidID else { throw NostrError(.invalidID, "event id does not match its content") }
        guard hasValidSignature else { throw NostrError(.invalidSignature, "event signature does not verify") }
    }

    /// The first value of the first tag with this name.
    public func tagValue(_ name: String) -> String? { tags.first(named: name)?.value }
}

// MARK: - Wire form

extension Event {
    /// Limits that keep a hostile event from costing unbounded work.
    public static let maxTags = 10_000
    public static let maxTagFields = 1_000

    /// Parses an event from JSON text.
    public init(json text: String) throws(NostrError) {
        try self.init(json: JSON.parseNostr(text))
    }

    /// Builds an event from a parsed JSON object, checking every field's type and form.
    /// Unknown fields are ignored.
    public init(json: JSON) throws(NostrError) {
        guard case .object = json else { throw NostrError(.invalidField, "an event is a JSON object, got \(json.typeDescription)") }
        func field(_ name: String) throws(NostrError) -> JSON {
            guard let value = json[name] else { throw NostrError(.invalidField, "event field \"\(name)\" is missing") }
            return value
        }
        func string(_ name: String) throws(NostrError) -> String {
            guard case .string(let s) = try field(name) else {
                throw NostrError(.invalidField, "event field \"\(name)\" must be a string")
            }
            return s
        }
        func integer(_ name: String) throws(NostrError) -> Int64 {
            guard case .integer(let i) = try field(name) else {
                throw NostrError(.invalidField, "event field \"\(name)\" must be an integer")
            }
            return i
        }
        let id = try EventID(hex: string("id"))
        let pubkey = try PublicKey(hex: string("pubkey"))
        let createdAt = try integer("created_at")
        guard createdAt >= 0 else { throw NostrError(.invalidField, "event field \"created_at\" must not be negative") }
        let kindValue = try integer("kind")
        guard let kindRaw = UInt16(exactly: kindValue) else {
            throw NostrError(.invalidField, "event field \"kind\" must be between 0 and 65535")
        }
        guard case .array(let tagValues) = try field("tags") else {
            throw NostrError(.invalidField, "event field \"tags\" must be an array")
        }
        guard tagValues.count <= Event.maxTags else { throw NostrError(.tooLarge, "event has more than \(Event.maxTags) tags") }
        var tags: [Tag] = []
        tags.reserveCapacity(tagValues.count)
        for tagValue in tagValues {
            guard case .array(let items) = tagValue else { throw NostrError(.invalidField, "each tag must be an array of strings") }
            guard items.count <= Event.maxTagFields else { throw NostrError(.tooLarge, "a tag has more than \(Event.maxTagFields) fields") }
            var fields: [String] = []
            fields.reserveCapacity(items.count)
            for item in items {
                guard case .string(let s) = item else { throw NostrError(.invalidField, "each tag must be an array of strings") }
                fields.append(s)
            }
            tags.append(Tag(fields))
        }
        let content = try string("content")
        let sig = try Signature(hex: string("sig"))
        self.init(id: id, pubkey: pubkey, createdAt: createdAt, kind: Kind(kindRaw), tags: tags, content: content, sig: sig)
    }

    /// Writes the event as a compact JSON object.
    public func write(to writer: inout JSONWriter) {
        writer.raw("{\"id\":")
        writer.hexString(id.bytes32)
        writer.raw(",\"pubkey\":")
        writer.hexString(pubkey.bytes32)
        writer.raw(",\"created_at\":")
        writer.integer(createdAt)
        writer.raw(",\"kind\":")
        writer.integer(Int64(kind.rawValue))
        writer.raw(",\"tags\":[")
        for (i, tag) in tags.enumerated() {
            if i > 0 { writer.raw(UInt8(ascii: ",")) }
            writer.stringArray(tag.fields)
        }
        writer.raw("],\"content\":")
        writer.string(content)
        writer.raw(",\"sig\":\"")
        writer.raw(sig.hex)
        writer.raw("\"}")
    }

    /// Compact JSON text (NIP-01 escaping; `/` not escaped).
    public var jsonString: String {
        var writer = JSONWriter(capacity: 400 + content.utf8.count)
        write(to: &writer)
        return writer.string
    }
}
