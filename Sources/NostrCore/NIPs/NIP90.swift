// NIP-90 (Data Vending Machines) as values: a job request, its feedback and its result, each read
// from an event and written to one here and nowhere else. The provider, the buyer and the agents
// pass these values; none of them indexes a NIP-90 tag or compares a status string.

public import PylonBasics


/// The statuses of kind 7000 feedback (NIP-90).
public enum FeedbackStatus: String, Sendable, Hashable, CaseIterable {
    case paymentRequired = "payment-required"
    case processing
    case partial
    case error
    case success
}

/// How an encrypted request was encrypted; the answer uses the same scheme.
public enum EncryptionScheme: String, Sendable, Hashable {
    case nip04
    case nip44

    /// By shape: NIP-04 content carries `?iv=`; anything else is taken for NIP-44 v2. (Searched in
    /// the UTF-8 bytes: `String.contains` is a generic search, slow over a payload of kilobytes.)
    public static func detect(_ content: String) -> EncryptionScheme {
        let marker: [UInt8] = Array("?iv=".utf8)
        var window: UInt32 = 0
        let wanted = marker.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        for byte in content.utf8 {
            window = window << 8 | UInt32(byte)
            if window == wanted { return .nip04 }
        }
        return .nip44
    }

    public func decrypt(_ content: String, secretKey: SecretKey, peer: PublicKey) throws(NostrError) -> String {
        switch self {
        case .nip04:
            return try NIP04.decrypt(content, secretKey: secretKey, publicKey: peer)
        case .nip44:
            let key = try NIP44.conversationKey(secretKey: secretKey, publicKey: peer)
            return try NIP44.decrypt(content, conversationKey: key)
        }
    }

    public func encrypt(_ plaintext: String, secretKey: SecretKey, peer: PublicKey) throws(NostrError) -> String {
        switch self {
        case .nip04:
            return try NIP04.encrypt(plaintext, secretKey: secretKey, publicKey: peer)
        case .nip44:
            let key = try NIP44.conversationKey(secretKey: secretKey, publicKey: peer)
            return try NIP44.encrypt(plaintext, conversationKey: key)
        }
    }
}

/// An amount asked for or paid (`["amount", msats, bolt11?]`).
public struct JobAmount: Sendable, Hashable {
    public var msats: Int64
    public var bolt11: String?

    public init(msats: Int64, bolt11: String? = nil) {
        self.msats = msats
        self.bolt11 = bolt11
    }

    var tag: Tag { Tag(["amount", String(msats)] + (bolt11.map { [$0] } ?? [])) }

    init?(_ tag: Tag?) {
        guard let tag, let text = tag.value, let msats = Int64(text), msats >= 0 else { return nil }
        self.msats = msats
        bolt11 = tag[2].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// One `i` tag of a request: `["i", value, type, relay, marker]`.
public struct JobInput: Sendable, Hashable {
    public enum InputType: Sendable, Hashable {
        /// The literal value (the registry's `prompt`, and a missing type, mean the same).
        case text
        /// A Nostr event id, fetched from the relays.
        case event
        /// The output of another job (chaining): the id of its request.
        case job
        /// Something to fetch over HTTP.
        case url
        /// A type NIP-90 does not define: kept so that a provider can name it when it refuses.
        case other(String)

        public init(_ name: String) {
            switch name {
            case "text", "prompt", "": self = .text
            case "event": self = .event
            case "job": self = .job
            case "url": self = .url
            default: self = .other(name)
            }
        }

        public var name: String {
            switch self {
            case .text: "text"
            case .event: "event"
            case .job: "job"
            case .url: "url"
            case .other(let name): name
            }
        }
    }

    public var value: String
    public var type: InputType
    /// Where to look for an `event` or `job` input ("" for none).
    public var relay: String
    public var marker: String

    public init(value: String, type: InputType = .text, relay: String = "", marker: String = "") {
        self.value = value
        self.type = type
        self.relay = relay
        self.marker = marker
    }

    init?(_ tag: Tag) {
        guard tag.name == "i", let value = tag.value else { return nil }
        self.init(value: value, type: InputType(tag[2] ?? "text"), relay: tag[3] ?? "", marker: tag[4] ?? "")
    }

    /// The tag, as short as the fields allow.
    public var tag: Tag {
        var fields = ["i", value, type.name]
        if !relay.isEmpty || !marker.isEmpty { fields.append(relay) }
        if !marker.isEmpty { fields.append(marker) }
        return Tag(fields)
    }
}

/// One `param` tag: a name and its values (usually one).
public struct JobParam: Sendable, Hashable {
    public var name: String
    public var values: [String]

    public init(_ name: String, _ values: [String]) {
        self.name = name
        self.values = values
    }

    public init(_ name: String, _ value: String) {
        self.init(name, [value])
    }

    init?(_ tag: Tag) {
        guard tag.name == "param", tag.fields.count >= 3 else { return nil }
        self.init(tag.fields[1], Array(tag.fields.dropFirst(2)))
    }

    var tag: Tag { Tag(["param", name] + values) }
}

/// A job request (kinds 5000-5999) as NIP-90 defines it: inputs, params, bid, where to answer,
/// which providers, the output type, an expiration (NIP-40), and, when `encryption` is set,
/// inputs and params in the content encrypted to the one provider named.
///
/// ``init(event:)`` reads a request; an encrypted one has its inputs and params only after
/// ``decrypt(with:)``. ``make(_:author:createdAt:)`` writes one from ``Fields``.
public struct JobRequest: Sendable {
    /// What a request says, apart from who signed it when.
    public struct Fields: Sendable, Hashable {
        public var kind: Kind
        public var inputs: [JobInput]
        public var params: [JobParam]
        public var bidMsats: Int64?
        /// Where responses also go.
        public var relays: [String]
        /// The providers named in `p` tags (empty: anyone may serve it).
        public var providers: [PublicKey]
        /// The requested output MIME type.
        public var output: String?
        /// NIP-40: relays and providers drop the request after this time.
        public var expiration: Int64?
        /// Inputs and params travel encrypted with this scheme.
        public var encryption: EncryptionScheme?

        public init(
            kind: Kind = 5050, inputs: [JobInput], params: [JobParam] = [], bidMsats: Int64? = nil, relays: [String] = [],
            providers: [PublicKey] = [], output: String? = nil, expiration: Int64? = nil, encryption: EncryptionScheme? = nil
        ) {
            self.kind = kind
            self.inputs = inputs
            self.params = params
            self.bidMsats = bidMsats
            self.relays = relays
            self.providers = providers
            self.output = output
            self.expiration = expiration
            self.encryption = encryption
        }
    }

    public let event: Event
    public var fields: Fields

    public var id: EventID { event.id }
    public var customer: PublicKey { event.pubkey }
    public var kind: Kind { fields.kind }
    public var inputs: [JobInput] {
        get { fields.inputs }
        set { fields.inputs = newValue }
    }
    public var params: [JobParam] { fields.params }
    public var bidMsats: Int64? { fields.bidMsats }
    public var relays: [String] { fields.relays }
    public var providers: [PublicKey] { fields.providers }
    public var output: String? { fields.output }
    public var expiration: Int64? { fields.expiration }
    public var encryption: EncryptionScheme? { fields.encryption }
    /// Whether the request is encrypted (its inputs and params are in the content).
    public var isEncrypted: Bool { fields.encryption != nil }

    /// Reads a request event's tags. Malformed tags are skipped; what they mean for serving the
    /// job (no input, an unknown input type) is the provider's to decide.
    public init(event: Event) {
        self.event = event
        fields = Fields(kind: event.kind, inputs: [])
        let encrypted = event.tags.first(named: "encrypted") != nil
        if encrypted { fields.encryption = EncryptionScheme.detect(event.content) }
        for tag in event.tags {
            switch tag.name {
            case "p":
                if let key = tag.value.flatMap({ try? PublicKey(hex: $0) }) { fields.providers.append(key) }
            case "expiration":
                fields.expiration = tag.value.flatMap { Int64($0) }
            default:
                break
            }
        }
        read(event.tags, data: !encrypted)
    }

    /// Reads `bid`, `relays` and `output`, and with `data` the inputs and params: from the event,
    /// or from an encrypted request's decrypted content (where any of them may travel).
    private mutating func read(_ tags: [Tag], data: Bool) {
        for tag in tags {
            switch tag.name {
            case "i": if data, let input = JobInput(tag) { fields.inputs.append(input) }
            case "param": if data, let param = JobParam(tag) { fields.params.append(param) }
            case "bid": if let amount = tag.value.flatMap({ Int64($0) }), amount >= 0 { fields.bidMsats = amount }
            case "relays":
                for relay in tag.fields.dropFirst() where !relay.isEmpty && !fields.relays.contains(relay) { fields.relays.append(relay) }
            case "output": fields.output = tag.value
            default: break
            }
        }
    }

    /// Decrypts an encrypted request's content (a JSON array of tags) with the provider's key and
    /// reads its tags. Nothing to do for a plain request.
    public mutating func decrypt(with secretKey: SecretKey) throws(NostrError) {
        guard let scheme = fields.encryption, fields.inputs.isEmpty, fields.params.isEmpty else { return }
        let plaintext = try scheme.decrypt(event.content, secretKey: secretKey, peer: event.pubkey)
        guard let array = (try? JSON.parse(plaintext))?.arrayValue else {
            throw NostrError(.invalidJSON, "the decrypted request is not a JSON array of tags")
        }
        var tags: [Tag] = []
        for element in array {
            guard let values = element.arrayValue, case let fields = values.compactMap(\.stringValue), fields.count == values.count, !fields.isEmpty else {
                throw NostrError(.invalidField, "the decrypted request holds something other than tags (arrays of strings)")
            }
            tags.append(Tag(fields))
        }
        read(tags, data: true)
    }

    /// Writes and signs a request. With `encryption`, the inputs and params go into the content,
    /// encrypted to the single provider named (NIP-90's encrypted params); `p`, `encrypted`,
    /// `bid`, `relays` and `output` stay visible.
    public static func make(_ fields: Fields, author: Keypair, createdAt: Int64) throws(NostrError) -> JobRequest {
        guard fields.kind.isJobRequest else {
            throw NostrError(.invalidField, "kind \(fields.kind) is not a NIP-90 job request kind (5000-5999)")
        }
        let data: [Tag] = fields.inputs.map(\.tag) + fields.params.map(\.tag)
        var tags: [Tag] = []
        var content = ""
        if let scheme = fields.encryption {
            guard fields.providers.count == 1, let provider = fields.providers.first else {
                throw NostrError(.invalidField, "an encrypted request is encrypted to one provider; name exactly one")
            }
            var writer = JSONWriter()
            writer.value(.array(data.map { .array($0.fields.map(JSON.string)) }))
            content = try scheme.encrypt(writer.string, secretKey: author.secretKey, peer: provider)
            tags.append(["p", provider.hex])
            tags.append(["encrypted"])
        } else {
            tags = data + fields.providers.map { ["p", $0.hex] }
        }
        if let bid = fields.bidMsats { tags.append(["bid", String(bid)]) }
        if !fields.relays.isEmpty { tags.append(Tag(["relays"] + fields.relays)) }
        if let output = fields.output { tags.append(["output", output]) }
        if let expiration = fields.expiration { tags.append(["expiration", String(expiration)]) }
        let event = UnsignedEvent(pubkey: author.publicKey, createdAt: createdAt, kind: fields.kind, tags: tags, content: content).sign(with: author)
        return JobRequest(event: event, fields: fields)
    }

    private init(event: Event, fields: Fields) {
        self.event = event
        self.fields = fields
    }
}

/// Kind 7000: a provider's word about a request.
public struct JobFeedback: Sendable, Hashable {
    public var status: FeedbackStatus
    /// The human text after the status (`["status", status, extra]`).
    public var extra: String?
    /// Partial output, or other content; decrypted when read with the customer's key.
    public var content: String
    public var amount: JobAmount?
    public var request: EventID
    public var customer: PublicKey
    /// The content is (to be) encrypted with this scheme (`encrypted` tag).
    public var encryption: EncryptionScheme?

    public init(
        status: FeedbackStatus, extra: String? = nil, content: String = "", amount: JobAmount? = nil, request: EventID, customer: PublicKey,
        encryption: EncryptionScheme? = nil
    ) {
        self.status = status
        self.extra = extra
        self.content = content
        self.amount = amount
        self.request = request
        self.customer = customer
        self.encryption = encryption
    }

    /// Reads a feedback event; with `secretKey` (the customer's), decrypts encrypted content.
    /// Throws for another kind, an unknown status or a missing `e` or `p`.
    public init(event: Event, secretKey: SecretKey? = nil) throws(NostrError) {
        guard event.kind == .jobFeedback else { throw NostrError(.invalidField, "kind \(event.kind) is not NIP-90 feedback (7000)") }
        let tags = event.tags
        guard let statusTag = tags.first(named: "status"), let text = statusTag.value else {
            throw NostrError(.invalidField, "feedback without a status tag")
        }
        guard let status = FeedbackStatus(rawValue: text) else { throw NostrError(.invalidField, "feedback status \"\(text)\" is not one of NIP-90's") }
        guard let request = tags.first(named: "e")?.value.flatMap({ try? EventID(hex: $0) }) else {
            throw NostrError(.invalidField, "feedback without the request's id (e tag)")
        }
        guard let customer = tags.first(named: "p")?.value.flatMap({ try? PublicKey(hex: $0) }) else {
            throw NostrError(.invalidField, "feedback without the customer (p tag)")
        }
        // The scheme shows only in a ciphertext: without content an encrypted feedback reads as NIP-44.
        let encryption = tags.first(named: "encrypted").map { _ in EncryptionScheme.detect(event.content) }
        var content = event.content
        if let encryption, let secretKey, !content.isEmpty {
            content = try encryption.decrypt(content, secretKey: secretKey, peer: event.pubkey)
        }
        self.init(
            status: status, extra: statusTag[2], content: content, amount: JobAmount(tags.first(named: "amount")), request: request,
            customer: customer, encryption: encryption)
    }

    /// The event to sign; content is encrypted to the customer when `encryption` is set.
    public func unsignedEvent(author: Keypair, createdAt: Int64) throws(NostrError) -> UnsignedEvent {
        var tags: [Tag] = [Tag(["status", status.rawValue] + (extra.map { [$0] } ?? []))]
        if let amount { tags.append(amount.tag) }
        tags.append(["e", request.hex])
        tags.append(["p", customer.hex])
        var body = content
        if let encryption {
            tags.append(["encrypted"])
            if !content.isEmpty { body = try encryption.encrypt(content, secretKey: author.secretKey, peer: customer) }
        }
        return UnsignedEvent(pubkey: author.publicKey, createdAt: createdAt, kind: .jobFeedback, tags: tags, content: body)
    }
}

/// The result of a job (the request's kind + 1000).
public struct JobResult: Sendable, Hashable {
    public var kind: Kind
    /// The output; decrypted when read with the customer's key.
    public var content: String
    public var request: EventID
    /// The request event as JSON (`request` tag).
    public var requestJSON: String?
    public var customer: PublicKey?
    /// The request's inputs, echoed (left out of an encrypted result).
    public var inputs: [JobInput]
    public var amount: JobAmount?
    public var encryption: EncryptionScheme?

    public init(
        kind: Kind, content: String, request: EventID, requestJSON: String? = nil, customer: PublicKey? = nil, inputs: [JobInput] = [],
        amount: JobAmount? = nil, encryption: EncryptionScheme? = nil
    ) {
        self.kind = kind
        self.content = content
        self.request = request
        self.requestJSON = requestJSON
        self.customer = customer
        self.inputs = inputs
        self.amount = amount
        self.encryption = encryption
    }

    /// Reads a result event; with `secretKey` (the customer's), decrypts encrypted content.
    public init(event: Event, secretKey: SecretKey? = nil) throws(NostrError) {
        guard event.kind.isJobResult else { throw NostrError(.invalidField, "kind \(event.kind) is not a NIP-90 job result (6000-6999)") }
        let tags = event.tags
        guard let request = tags.first(named: "e")?.value.flatMap({ try? EventID(hex: $0) }) else {
            throw NostrError(.invalidField, "a result without the request's id (e tag)")
        }
        let encrypted = tags.first(named: "encrypted") != nil
        let encryption = encrypted ? EncryptionScheme.detect(event.content) : nil
        var content = event.content
        if let encryption, let secretKey, !content.isEmpty {
            content = try encryption.decrypt(event.content, secretKey: secretKey, peer: event.pubkey)
        }
        self.init(
            kind: event.kind, content: content, request: request, requestJSON: tags.first(named: "request")?.value,
            customer: tags.first(named: "p")?.value.flatMap { try? PublicKey(hex: $0) }, inputs: tags.compactMap(JobInput.init),
            amount: JobAmount(tags.first(named: "amount")), encryption: encryption)
    }

    /// The event to sign: the inputs first, then `request`, `e`, `p`, `amount`; content
    /// encrypted to the customer when `encryption` is set (which needs `customer`).
    public func unsignedEvent(author: Keypair, createdAt: Int64) throws(NostrError) -> UnsignedEvent {
        guard kind.isJobResult else { throw NostrError(.invalidField, "kind \(kind) is not a NIP-90 job result kind (6000-6999)") }
        var tags = inputs.map(\.tag)
        if let requestJSON { tags.append(["request", requestJSON]) }
        tags.append(["e", request.hex])
        if let customer { tags.append(["p", customer.hex]) }
        if let amount { tags.append(amount.tag) }
        var body = content
        if let encryption {
            guard let customer else { throw NostrError(.invalidField, "an encrypted result needs the customer to encrypt it to") }
            tags.append(["encrypted"])
            body = try encryption.encrypt(content, secretKey: author.secretKey, peer: customer)
        }
        return UnsignedEvent(pubkey: author.publicKey, createdAt: createdAt, kind: kind, tags: tags, content: body)
    }
}
