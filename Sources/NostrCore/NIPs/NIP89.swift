// NIP-89 handler information (kind 31990) for NIP-90 providers, and the providers' heartbeat
// (kind 11998), as values read from and written to events here alone.

public import PylonBasics


/// What a provider announces about itself: the kinds it serves (`k` tags) under a stable `d`, and
/// in the content its name, whether it takes encrypted requests, the params it reads (with the
/// values it offers, the models among them) and its price.
public struct HandlerInformation: Sendable, Hashable {
    /// One entry of `nip90Params`.
    public struct Param: Sendable, Hashable {
        public var name: String
        public var description: String
        public var values: [String]
        public var required: Bool

        public init(_ name: String, description: String, values: [String] = [], required: Bool = false) {
            self.name = name
            self.description = description
            self.values = values
            self.required = required
        }
    }

    /// The `d` tag: one announcement per provider identity, replaced by the next.
    public var identifier: String
    public var kinds: [Kind]
    public var name: String
    public var about: String
    public var supportsEncryption: Bool
    public var params: [Param]
    /// The price per job, when the provider asks one.
    public var amountMsats: Int64?

    public init(
        identifier: String, kinds: [Kind], name: String, about: String = "", supportsEncryption: Bool = true, params: [Param] = [],
        amountMsats: Int64? = nil
    ) {
        self.identifier = identifier
        self.kinds = kinds
        self.name = name
        self.about = about
        self.supportsEncryption = supportsEncryption
        self.params = params
        self.amountMsats = amountMsats
    }

    /// The values offered for the `model` param.
    public var models: [String] { params.first { $0.name == "model" }?.values ?? [] }

    /// Reads an announcement. Content that is not a JSON object counts as empty (other software
    /// announces with less); the kind must be 31990.
    public init(event: Event) throws(NostrError) {
        guard event.kind == .handlerInformation else {
            throw NostrError(.invalidField, "kind \(event.kind) is not NIP-89 handler information (31990)")
        }
        let content = (try? JSON.parse(event.content)).flatMap { $0.objectValue != nil ? $0 : nil } ?? .object([])
        let params = (content["nip90Params"]?.objectValue ?? []).map { member in
            Param(
                member.key, description: member.value["description"]?.stringValue ?? "",
                values: member.value["values"]?.arrayValue?.compactMap(\.stringValue) ?? [], required: member.value["required"]?.boolValue ?? false)
        }
        self.init(
            identifier: event.tagValue("d") ?? "", kinds: event.tags.all(named: "k").compactMap { $0.value.flatMap { UInt16($0) }.map { Kind(rawValue: $0) } },
            name: content["name"]?.stringValue ?? "", about: content["about"]?.stringValue ?? "",
            // Some software spells it encryptionSupported.
            supportsEncryption: content["supportsEncryption"]?.boolValue ?? content["encryptionSupported"]?.boolValue ?? false,
            params: params, amountMsats: content["amount"]?.stringValue.flatMap { Int64($0) })
    }

    public func unsignedEvent(author: PublicKey, createdAt: Int64) -> UnsignedEvent {
        var content: [JSON.Member] = [
            .init("name", .string(name)),
            .init("about", .string(about)),
            .init("supportsEncryption", .bool(supportsEncryption)),
            .init(
                "nip90Params",
                .object(params.map { param in
                    JSON.Member(
                        param.name,
                        .object([
                            .init("required", .bool(param.required)), .init("values", .array(param.values.map(JSON.string))),
                            .init("description", .string(param.description)),
                        ]))
                })),
        ]
        if let amountMsats { content.append(.init("amount", .string(String(amountMsats)))) }
        let tags: [Tag] = [["d", identifier]] + kinds.map { ["k", String($0.rawValue)] }
        return UnsignedEvent(pubkey: author, createdAt: createdAt, kind: .handlerInformation, tags: tags, content: JSON.object(content).serialized)
    }
}

/// A provider's sign of life (kind 11998): whether it takes jobs now, its queue, its models; it
/// expires (NIP-40) so that a stopped provider drops out on its own.
public struct ProviderHeartbeat: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case ready
        case busy
        case unavailable
    }

    public var identifier: String
    public var kinds: [Kind]
    public var status: Status
    public var queued: Int
    public var running: Int
    public var slots: Int
    public var models: [String]
    public var expiration: Int64?

    public init(
        identifier: String, kinds: [Kind], status: Status, queued: Int = 0, running: Int = 0, slots: Int = 0, models: [String] = [],
        expiration: Int64? = nil
    ) {
        self.identifier = identifier
        self.kinds = kinds
        self.status = status
        self.queued = queued
        self.running = running
        self.slots = slots
        self.models = models
        self.expiration = expiration
    }

    public init(event: Event) throws(NostrError) {
        guard event.kind == .heartbeat else { throw NostrError(.invalidField, "kind \(event.kind) is not a provider heartbeat (11998)") }
        guard let text = event.tagValue("status"), let status = Status(rawValue: text) else {
            throw NostrError(.invalidField, "a heartbeat without a status of ready, busy or unavailable")
        }
        let content = (try? JSON.parse(event.content)) ?? .object([])
        func count(_ key: String) -> Int { content[key]?.integerValue.map { Int(clamping: $0) } ?? 0 }
        self.init(
            identifier: event.tagValue("d") ?? "", kinds: event.tags.all(named: "k").compactMap { $0.value.flatMap { UInt16($0) }.map { Kind(rawValue: $0) } },
            status: status, queued: count("queued"), running: count("running"), slots: count("slots"),
            models: content["models"]?.arrayValue?.compactMap(\.stringValue) ?? [], expiration: event.expiration)
    }

    public func unsignedEvent(author: PublicKey, createdAt: Int64) -> UnsignedEvent {
        let content = JSON.object([
            .init("status", .string(status.rawValue)), .init("queued", .integer(Int64(queued))), .init("running", .integer(Int64(running))),
            .init("slots", .integer(Int64(slots))), .init("models", .array(models.map(JSON.string))),
        ])
        var tags: [Tag] = [["d", identifier], ["status", status.rawValue]] + kinds.map { ["k", String($0.rawValue)] }
        if let expiration { tags.append(["expiration", String(expiration)]) }
        return UnsignedEvent(pubkey: author, createdAt: createdAt, kind: .heartbeat, tags: tags, content: content.serialized)
    }
}
