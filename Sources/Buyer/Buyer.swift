// The Buyer module: pylon as a NIP-90 customer (SPEC §3 `pylon job`). It builds and signs
// requests (encrypted with NIP-44 v2 when asked), follows their feedback and results on the relays,
// and discovers providers from their NIP-89 announcements and heartbeats. The CLI and, later, the
// agents of host mode use it; it keeps no state (the CLI records the history in pylon.db).

public import NostrCore
public import PylonBasics
public import RelayPool

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

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

/// Something a provider said about a request.
public struct BuyerUpdate: Sendable {
    public enum Content: Sendable {
        /// Kind 7000, its content decrypted.
        case feedback(JobFeedback)
        /// The result (request kind + 1000), decrypted.
        case result(JobResult)
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
        guard order.kind.isJobRequest else { throw BuyerError(.invalidOrder, "kind \(order.kind) is not a NIP-90 job request kind (5000-5999)") }
        guard !order.prompt.isEmpty else { throw BuyerError(.invalidOrder, "the prompt is empty") }
        if order.encrypt && order.provider == nil {
            throw BuyerError(.invalidOrder, "an encrypted request needs a provider to encrypt it to (--provider NPUB)")
        }
        let fields = JobRequest.Fields(
            kind: order.kind, inputs: [JobInput(value: order.prompt)], params: order.params.map { JobParam($0.key, $0.value) },
            bidMsats: order.bidMsats, relays: order.relays, providers: order.provider.map { [$0] } ?? [],
            encryption: order.encrypt ? .nip44 : nil)
        do {
            return try JobRequest.make(fields, author: keypair, createdAt: now).event
        } catch {
            throw BuyerError(.invalidOrder, "cannot make the request: \(error.message)")
        }
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

    /// Reads one feedback or result event about a request; nil for anything else (a status NIP-90
    /// does not define, a result without the request's id).
    static func update(from event: Event, keypair: Keypair) -> BuyerUpdate? {
        func read<Value>(_ reading: (SecretKey?) throws(NostrError) -> Value) -> (Value, String?)? {
            do {
                return (try reading(keypair.secretKey), nil)
            } catch {
                // Content encrypted to someone else, or garbled: the rest still counts.
                guard error.code == .decryptionFailed || error.code == .invalidKey, let plain = try? reading(nil) else { return nil }
                return (plain, error.message)
            }
        }
        if event.kind == .jobFeedback {
            guard let (value, failure) = read({ key throws(NostrError) in try JobFeedback(event: event, secretKey: key) }) else { return nil }
            var feedback = value
            if failure != nil { feedback.content = "" }
            return BuyerUpdate(content: .feedback(feedback), provider: event.pubkey, event: event, decryptionError: failure)
        }
        guard event.kind.isJobResult, let (value, failure) = read({ key throws(NostrError) in try JobResult(event: event, secretKey: key) }) else {
            return nil
        }
        var result = value
        if failure != nil { result.content = "" }
        return BuyerUpdate(content: .result(result), provider: event.pubkey, event: event, decryptionError: failure)
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
        return newest.values.compactMap { event in
            guard let information = try? HandlerInformation(event: event) else { return nil }
            let beat = heartbeats[event.pubkey].flatMap { try? ProviderHeartbeat(event: $0) }
            return ProviderListing(
                pubkey: event.pubkey, name: information.name, about: information.about, kinds: information.kinds.map { Int($0.rawValue) },
                models: information.models, supportsEncryption: information.supportsEncryption, announcedAt: event.createdAt,
                heartbeatAt: beat == nil ? nil : heartbeats[event.pubkey]?.createdAt, heartbeatStatus: beat?.status.rawValue)
        }.sorted { ($0.heartbeatAt ?? 0, $0.announcedAt) > ($1.heartbeatAt ?? 0, $1.announcedAt) }
    }
}
