/// NIP-19: bech32-encoded entities (`npub`, `nsec`, `note`, `nprofile`, `nevent`, `naddr`).

public import PylonBasics

public enum NIP19: Sendable, Equatable {
    case npub(PublicKey)
    case nsec(SecretKey)
    case note(EventID)
    case nprofile(PublicKey, relays: [String])
    case nevent(EventID, relays: [String], author: PublicKey?, kind: Kind?)
    case naddr(identifier: String, pubkey: PublicKey, kind: Kind, relays: [String])

    private enum TLV: UInt8 {
        case special = 0
        case relay = 1
        case author = 2
        case kind = 3
    }

    /// The bech32 text.
    public var encoded: String {
        switch self {
        case .npub(let key): return Bech32.encode(hrp: "npub", data: key.bytes)
        case .nsec(let key): return Bech32.encode(hrp: "nsec", data: key.rawBytes)
        case .note(let id): return Bech32.encode(hrp: "note", data: id.bytes32.bytes)
        case .nprofile(let key, let relays):
            var tlv = NIP19.tlv(.special, key.bytes)
            for relay in relays { tlv += NIP19.tlv(.relay, Array(relay.utf8)) }
            return Bech32.encode(hrp: "nprofile", data: tlv)
        case .nevent(let id, let relays, let author, let kind):
            var tlv = NIP19.tlv(.special, id.bytes32.bytes)
            for relay in relays { tlv += NIP19.tlv(.relay, Array(relay.utf8)) }
            if let author { tlv += NIP19.tlv(.author, author.bytes) }
            if let kind { tlv += NIP19.tlv(.kind, NIP19.bigEndian(UInt32(kind.rawValue))) }
            return Bech32.encode(hrp: "nevent", data: tlv)
        case .naddr(let identifier, let pubkey, let kind, let relays):
            var tlv = NIP19.tlv(.special, Array(identifier.utf8))
            for relay in relays { tlv += NIP19.tlv(.relay, Array(relay.utf8)) }
            tlv += NIP19.tlv(.author, pubkey.bytes)
            tlv += NIP19.tlv(.kind, NIP19.bigEndian(UInt32(kind.rawValue)))
            return Bech32.encode(hrp: "naddr", data: tlv)
        }
    }

    /// Decodes any NIP-19 entity. Unknown TLV types are ignored; required ones must be present
    /// with the right lengths.
    public init(_ text: String) throws(NostrError) {
        let (hrp, data) = try Bech32.decode(text.trimmingPrefix("nostr:").description)
        switch hrp {
        case "npub": self = .npub(try PublicKey(bytes: try NIP19.exact32(data, hrp)))
        case "nsec": self = .nsec(try SecretKey(bytes: try NIP19.exact32(data, hrp)))
        case "note":
            guard let id = Bytes32(data) else { throw NostrError(.invalidBech32, "note holds 32 bytes, got \(data.count)") }
            self = .note(EventID(id))
        case "nprofile":
            let fields = try NIP19.parseTLV(data)
            guard let special = fields.first(where: { $0.type == TLV.special.rawValue })?.value else {
                throw NostrError(.invalidBech32, "nprofile has no public key")
            }
            self = .nprofile(try PublicKey(bytes: try NIP19.exact32(special, "nprofile public key")), relays: NIP19.relays(fields))
        case "nevent":
            let fields = try NIP19.parseTLV(data)
            guard let special = fields.first(where: { $0.type == TLV.special.rawValue })?.value,
                let id = Bytes32(special)
            else { throw NostrError(.invalidBech32, "nevent has no 32-byte event id") }
            var author: PublicKey?
            if let value = fields.first(where: { $0.type == TLV.author.rawValue })?.value {
                author = try PublicKey(bytes: try NIP19.exact32(value, "nevent author"))
            }
            var kind: Kind?
            if let value = fields.first(where: { $0.type == TLV.kind.rawValue })?.value {
                kind = try NIP19.kind(value)
            }
            self = .nevent(EventID(id), relays: NIP19.relays(fields), author: author, kind: kind)
        case "naddr":
            let fields = try NIP19.parseTLV(data)
            guard let special = fields.first(where: { $0.type == TLV.special.rawValue })?.value else {
                throw NostrError(.invalidBech32, "naddr has no identifier")
            }
            guard let identifier = String(validating: special, as: UTF8.self) else {
                throw NostrError(.invalidBech32, "naddr identifier is not UTF-8")
            }
            guard let authorValue = fields.first(where: { $0.type == TLV.author.rawValue })?.value else {
                throw NostrError(.invalidBech32, "naddr has no author")
            }
            guard let kindValue = fields.first(where: { $0.type == TLV.kind.rawValue })?.value else {
                throw NostrError(.invalidBech32, "naddr has no kind")
            }
            self = .naddr(
                identifier: identifier, pubkey: try PublicKey(bytes: try NIP19.exact32(authorValue, "naddr author")),
                kind: try NIP19.kind(kindValue), relays: NIP19.relays(fields))
        default:
            throw NostrError(.invalidBech32, "unknown NIP-19 prefix \"\(hrp.prefix(16))\"")
        }
    }

    /// The public key an `npub`, `nprofile` or hex string names.
    public static func publicKey(from text: String) throws(NostrError) -> PublicKey {
        if Hex.isLowercase(text, length: 64) { return try PublicKey(hex: text) }
        switch try NIP19(text) {
        case .npub(let key), .nprofile(let key, _): return key
        default: throw NostrError(.invalidBech32, "expected an npub, an nprofile or 64 hex characters")
        }
    }

    private static func tlv(_ type: TLV, _ value: [UInt8]) -> [UInt8] {
        // Values over 255 bytes cannot be represented; relays and identifiers longer than that are cut.
        let value = Array(value.prefix(255))
        return [type.rawValue, UInt8(value.count)] + value
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func exact32(_ data: [UInt8], _ what: String) throws(NostrError) -> [UInt8] {
        guard data.count == 32 else { throw NostrError(.invalidBech32, "\(what) holds 32 bytes, got \(data.count)") }
        return data
    }

    private static func kind(_ value: [UInt8]) throws(NostrError) -> Kind {
        guard value.count == 4 else { throw NostrError(.invalidBech32, "a kind TLV is 4 bytes") }
        let raw = value.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let kind = UInt16(exactly: raw) else { throw NostrError(.invalidBech32, "kind \(raw) is out of range") }
        return Kind(kind)
    }

    private static func parseTLV(_ data: [UInt8]) throws(NostrError) -> [(type: UInt8, value: [UInt8])] {
        var out: [(type: UInt8, value: [UInt8])] = []
        var i = 0
        while i < data.count {
            guard i + 2 <= data.count else { throw NostrError(.invalidBech32, "truncated TLV") }
            let type = data[i]
            let length = Int(data[i + 1])
            i += 2
            guard i + length <= data.count else { throw NostrError(.invalidBech32, "TLV length runs past the data") }
            out.append((type, Array(data[i..<(i + length)])))
            i += length
        }
        return out
    }

    private static func relays(_ fields: [(type: UInt8, value: [UInt8])]) -> [String] {
        fields.filter { $0.type == TLV.relay.rawValue }.compactMap { String(validating: $0.value, as: UTF8.self) }
    }
}

extension PublicKey {
    /// The `npub` form.
    public var npub: String { NIP19.npub(self).encoded }
}

extension SecretKey {
    /// The `nsec` form; for explicit export only.
    public var nsec: String { NIP19.nsec(self).encoded }
}

extension EventID {
    /// The `note` form.
    public var note: String { NIP19.note(self).encoded }
}
