// The Buyer module: pylon as a NIP-90 customer (SPEC §3 `pylon job`). It builds and signs
// requests (encrypted with NIP-44 v2 when asked), follows their feedback and results on the relays,
// and discovers providers from their NIP-89 announcements and heartbeats. The CLI and, later, the
// agents of host mode use it; it keeps no state (the CLI records the history in pylon.db).

public import Foundation
public import NostrCore
public import RelayPool

/// What to ask for.
public struct JobOrder: Sendable {
    public var kind: Kind
    public var prompt: String
    /// Params in order (`--param K=V`, `--model`).
    public var params: [(key: String, value: String)]
    public var bidMsats: Int64?
    /// Address one provider (`p` tag); nil lets any provider answer.
    public var provider: PublicKey?
    /// Where providers should answer (the request's `relays` tag).
    public var relays: [String]
    /// Put the input and params in NIP-44 v2 encrypted content (needs a provider).
    public var encrypt: Bool

    public init(
        kind: Kind = 5050, prompt: String, params: [(key: String, value: String)] = [], bidMsats: Int64? = nil, provider: PublicKey? = nil,
        relays: [String] = [], encrypt: Bool = false
    ) {
        self.kind = kind
        self.prompt = prompt
        self.params = params
        self.bidMsats = bidMsats
        self.provider = provider
        self.relays = relays
        self.encrypt = encrypt
    }
}

/// A request that cannot be made as asked.
public struct BuyerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Something a provider said about a request.
public struct BuyerUpdate: Sendable {
    public enum Content: Sendable {
        /// Kind 7000: the status, its human text, the (decrypted) content, an amount asked for.
        case feedback(status: String, extra: String?, content: String, amountMsats: Int64?, bolt11: String?)
        /// The result (request kind + 1000), decrypted.
        case result(String)
    }

    public let content: Content
    public let provider: PublicKey
    public let event: Event
    /// Set when the content was encrypted and did not decrypt with our key.
    public let decryptionError: String?
}

/// A provider as the relays describe it.
public struct ProviderListing: Sendable {
    public let pubkey: PublicKey
    public let name: String
    public let about: String
    public let kinds: [Int]
    public let models: [String]
    public let supportsEncryption: Bool
    public let announcedAt: Int64
    /// The last heartbeat's time and status, when there is one that has not expired.
    public let heartbeatAt: Int64?
    public let heartbeatStatus: String?
}

/// A NIP-90 customer on a relay pool.
public struct Buyer: Sendable {
    public let keypair: Keypair
    public let pool: RelayPool

    public init(keypair: Keypair, pool: RelayPool) {
        self.keypair = keypair
        self.pool = pool
    }

    /// Builds and signs the request event.
    public func request(_ order: JobOrder, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(BuyerError) -> Event {
        guard order.kind.isJobRequest else { throw BuyerError("kind \(order.kind) is not a NIP-90 job request kind (5000-5999)") }
        guard !order.prompt.isEmpty else { throw BuyerError("the prompt is empty") }
        let dataTags: [Tag] = [["i", order.prompt, "text"]] + order.params.map { ["param", $0.key, $0.value] }
        var tags: [Tag] = []
        var content = ""
        if order.encrypt {
            guard let provider = order.provider else {
                throw BuyerError("an encrypted request needs a provider to encrypt it to (--provider NPUB)")
            }
            var writer = JSONWriter()
            writer.value(.array(dataTags.map { .array($0.fields.map(JSON.string)) }))
            do {
                content = try EncryptionScheme.nip44.encrypt(writer.string, secretKey: keypair.secretKey, peer: provider)
            } catch {
                throw BuyerError("cannot encrypt the request: \(error.message)")
            }
            tags.append(["p", provider.hex])
            tags.append(["encrypted"])
        } else {
            tags = dataTags
            if let provider = order.provider { tags.append(["p", provider.hex]) }
        }
        if let bid = order.bidMsats { tags.append(["bid", String(bid)]) }
        if !order.relays.isEmpty { tags.append(Tag(["relays"] + order.relays)) }
        return UnsignedEvent(pubkey: keypair.publicKey, createdAt: now, kind: order.kind, tags: tags, content: content).sign(with: keypair)
    }

    /// Feedback and results about `request` as they arrive (and any already on the relays),
    /// decrypted when encrypted to us. The stream ends when the subscription closes.
    public func updates(for request: Event) -> (updates: AsyncStream<BuyerUpdate>, close: @Sendable () -> Void) {
        let filter = Filter(
            kinds: [.jobFeedback, Kind(request.kind.rawValue + 1000)], tags: ["e": [request.id.hex]], since: request.createdAt - 5)
        let subscription = pool.subscribe([filter])
        let keypair = keypair
        let stream = AsyncStream<BuyerUpdate> { continuation in
            let task = Task {
                for await item in subscription.events {
                    guard case .event(let event, _) = item, let update = Self.update(from: event, keypair: keypair) else { continue }
                    continuation.yield(update)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                subscription.close()
            }
        }
        return (stream, { subscription.close() })
    }

    /// Reads one feedback or result event about a request.
    static func update(from event: Event, keypair: Keypair) -> BuyerUpdate? {
        var content = event.content
        var decryptionError: String?
        if event.tags.first(named: "encrypted") != nil, !content.isEmpty {
            do {
                content = try EncryptionScheme.detect(content).decrypt(content, secretKey: keypair.secretKey, peer: event.pubkey)
            } catch {
                decryptionError = error.message
                content = ""
            }
        }
        if event.kind == .jobFeedback {
            guard let status = event.tags.first(named: "status") else { return nil }
            let amount = event.tags.first(named: "amount")
            return BuyerUpdate(
                content: .feedback(
                    status: status.value ?? "", extra: status.fields.count > 2 ? status.fields[2] : nil, content: content,
                    amountMsats: amount?.value.flatMap { Int64($0) }, bolt11: amount.flatMap { $0.fields.count > 2 ? $0.fields[2] : nil }),
                provider: event.pubkey, event: event, decryptionError: decryptionError)
        }
        guard event.kind.isJobResult else { return nil }
        return BuyerUpdate(content: .result(content), provider: event.pubkey, event: event, decryptionError: decryptionError)
    }

    /// A result already on the relays (`pylon job result` when the history has none).
    public func findResult(for id: EventID, kind: Kind?, timeout: Duration = .seconds(5)) async -> BuyerUpdate? {
        let kinds: Set<Kind>? = kind.map { [Kind($0.rawValue + 1000)] }
        let events = await pool.fetch([Filter(kinds: kinds, tags: ["e": [id.hex]])], timeout: timeout)
        return events.filter(\.kind.isJobResult).sorted { $0.createdAt < $1.createdAt }.lazy.compactMap { Self.update(from: $0, keypair: keypair) }.first
    }

    /// Providers announcing `kind` (NIP-89) with their latest heartbeat.
    public func providers(kind: Kind, now: Int64 = Int64(Date().timeIntervalSince1970), timeout: Duration = .seconds(5)) async -> [ProviderListing] {
        let announcements = await pool.fetch([Filter(kinds: [.handlerInformation], tags: ["k": [String(kind.rawValue)]], limit: 500)], timeout: timeout)
        var newest: [PublicKey: Event] = [:]
        for event in announcements where (newest[event.pubkey]?.createdAt ?? .min) < event.createdAt { newest[event.pubkey] = event }
        guard !newest.isEmpty else { return [] }
        let beats = await pool.fetch([Filter(authors: Set(newest.keys), kinds: [.heartbeat])], timeout: timeout)
        var heartbeats: [PublicKey: Event] = [:]
        for event in beats where !event.isExpired(now: now) && (heartbeats[event.pubkey]?.createdAt ?? .min) < event.createdAt {
            heartbeats[event.pubkey] = event
        }
        return newest.values.map { event in
            let content = (try? JSON.parse(event.content)) ?? .object([])
            let params = content["nip90Params"]
            let models = params?["model"]?["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let beat = heartbeats[event.pubkey]
            return ProviderListing(
                pubkey: event.pubkey, name: content["name"]?.stringValue ?? "", about: content["about"]?.stringValue ?? "",
                kinds: event.tags.all(named: "k").compactMap { $0.value.flatMap { Int($0) } }, models: models,
                supportsEncryption: content["supportsEncryption"]?.boolValue ?? content["encryptionSupported"]?.boolValue ?? false,
                announcedAt: event.createdAt, heartbeatAt: beat?.createdAt, heartbeatStatus: beat?.tagValue("status"))
        }.sorted { ($0.heartbeatAt ?? 0, $0.announcedAt) > ($1.heartbeatAt ?? 0, $1.announcedAt) }
    }
}
