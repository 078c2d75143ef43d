// Payments: Lightning through Nostr Wallet Connect (NIP-47). The provider asks its wallet for
// invoices and watches them get paid; the buyer and the agents pay. Sits between Provider/Buyer
// and RelayPool: NIP-47's values are NostrCore's, the conversation over relays is here.
import CoreMetrics
import Crypto
public import NIOCore
public import Logging
public import NostrCore
import PylonAsync
public import PylonBasics
import RelayPool
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A connection to one NIP-47 wallet service: its own relay pool on the URI's relays, one
/// subscription to the wallet's answers and notifications, and a deadline on every request.
///
/// Run it (it is a Service) for as long as the wallet is used; requests wait for the
/// subscription to be in place, because NIP-47 answers are ephemeral events that a relay does
/// not keep for a late subscriber.
public final class WalletClient: Service, Sendable {
    public struct Configuration: Sendable {
        /// The longest wait for an answer (a payment can take a while to route).
        public var requestTimeout: Duration = .seconds(30)
        /// The longest wait for the wallet's info event.
        public var infoTimeout: Duration = .seconds(5)
        /// The longest wait for a first relay and the subscription.
        public var connectTimeout: Duration = .seconds(10)
        /// How long the info event is trusted before it is read again.
        public var infoLifetime: Duration = .seconds(600)

        public init() {}
    }

    public let uri: WalletConnectURI
    public let configuration: Configuration
    let pool: RelayPool
    /// The URI's client key pair, derived once: it signs every request.
    let clientKeys: Keypair
    let logger: Logger
    private let state: Mutex<State>
    /// Fulfilled once a relay has answered the subscription (EOSE): answers are not missed after.
    private let subscribed = Promise<Void>()

    private struct State {
        /// Fulfilled with the answer, or with nil when the client stops first.
        var waiting: [EventID: Promise<WalletResponse?>] = [:]
        var stopped = false
        var info: (value: WalletInfo?, readAt: ContinuousClock.Instant)?
        var listeners = Registrations<AsyncStream<WalletNotification>.Continuation>()
        /// Notifications already passed on (a wallet may send the NIP-44 and the NIP-04 copy).
        var seenNotifications = BoundedSet(capacity: 1024)
        /// The keys shared with the wallet, derived once: every request, answer and notification
        /// is encrypted with them. One peer, so one entry.
        var sharedKeys: SharedKeysCache
        /// The event kinds the subscription asks for.
        var listening: Set<Kind> = []
        var subscription: PoolSubscription?
        /// Set by the graceful shutdown: no subscription opens after it.
        var unsubscribed = false
    }

    /// `eventLoopGroup`: where the wallet's relay connections live (NIO's shared group by default);
    /// the daemon gives its own loop, so that a paid job does not hop between threads.
    public init(
        uri: WalletConnectURI, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "pylon.payments"),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.uri = uri
        self.configuration = configuration
        self.logger = logger
        clientKeys = uri.clientKeys
        state = Mutex(State(sharedKeys: SharedKeysCache(secretKey: uri.secret, capacity: 1)))
        let relays = uri.relays.compactMap { try? RelayURL($0) }
        var poolConfiguration = RelayPool.Configuration(relays: relays)
        poolConfiguration.connectTimeout = configuration.connectTimeout
        self.pool = RelayPool(configuration: poolConfiguration, keypair: clientKeys, logger: logger, eventLoopGroup: eventLoopGroup)
    }

    /// Runs the relay pool and the subscription until graceful shutdown or cancellation; then
    /// every request still waiting fails with `shutdown`.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { try? await self.pool.run() }
                group.addTask { await self.listen() }
            }
        } onGracefulShutdown: {
            self.closeSubscription()
        }
        closeSubscription()
        stop()
    }

    /// Reads the wallet's info event, then subscribes to its answers and its notifications, in the
    /// scheme it is read in (``listenedKinds(_:)``), for as long as the client runs.
    private func listen() async {
        // Not reachable or no info event: both notification kinds (as before the info is known).
        // A shutdown while the relays are still out of reach ends the wait.
        let info = await cancelWhenGracefulShutdown { try? await self.info() }
        let kinds = Self.listenedKinds(info)
        let filter = Filter(
            authors: [uri.walletPubkey], kinds: kinds, tags: ["p": [clientKeys.publicKey.hex]], since: Int64(Date().timeIntervalSince1970) - 60)
        let subscription = pool.subscribe([filter])
        let open = state.withLock { state -> Bool in
            guard !state.unsubscribed, state.subscription == nil else { return false }
            state.subscription = subscription
            state.listening = kinds
            return true
        }
        guard open else {
            subscription.close()
            return
        }
        for await item in subscription.events { handle(item) }
    }

    /// The kinds the client subscribes to: the answers (23195), and the notifications in one
    /// scheme. A wallet that speaks NIP-44 sends each notification twice, as kind 23197 and as
    /// kind 23196 in NIP-04 for older clients: the relay sends only the copy that is read, rather
    /// than one that would cost a read, a parse and a signature check to be dropped. A wallet
    /// whose info is not known yet gets both kinds.
    static func listenedKinds(_ info: WalletInfo?) -> Set<Kind> {
        guard let info else { return [NIP47.responseKind, NIP47.notificationKind, NIP47.legacyNotificationKind] }
        return [NIP47.responseKind, info.encryptions.contains(.nip44) ? NIP47.notificationKind : NIP47.legacyNotificationKind]
    }

    private func closeSubscription() {
        state.withLock { state in
            state.unsubscribed = true
            return state.subscription
        }?.close()
    }

    /// Fails the waiting requests and ends the notification streams.
    private func stop() {
        let (waiting, listeners) = state.withLock { state in
            state.stopped = true
            defer { state.waiting.removeAll() }
            return (Array(state.waiting.values), state.listeners.close())
        }
        for answer in waiting { answer.fulfill(nil) }
        for listener in listeners { listener.finish() }
    }

    private func handle(_ item: SubscriptionEvent) {
        switch item {
        case .endOfStoredEvents:
            subscribed.fulfill(())
        case .closed(let relay, let reason):
            logger.warning("the wallet relay closed the subscription", metadata: ["relay.url": "\(relay)", "reason": "\(reason)"])
        case .event(let event, _):
            if event.kind == NIP47.responseKind {
                handleResponse(event)
            } else if event.kind == NIP47.legacyNotificationKind,
                state.withLock({ $0.listening.contains(NIP47.notificationKind) && $0.info?.value?.encryptions.contains(.nip44) ?? false })
            {
                // A wallet that speaks NIP-44 sends each notification as kind 23197 too (NIP-47):
                // the NIP-04 copy for older clients is not decrypted a second time.
                return
            } else {
                handleNotification(event)
            }
        }
    }

    private func handleResponse(_ event: Event) {
        let shared = sharedKeys()
        guard let response = read(event, as: "response", { (event, uri) throws(NostrError) in try WalletResponse(event: event, uri: uri, shared: shared) })
        else {
            return
        }
        guard let promise = state.withLock({ $0.waiting[response.requestID] }) else {
            logger.debug("wallet response to no waiting request", metadata: ["event.id": "\(event.id)"])
            return
        }
        promise.fulfill(response)
    }

    private func handleNotification(_ event: Event) {
        let shared = sharedKeys()
        guard
            let notification = read(
                event, as: "notification", { (event, uri) throws(NostrError) in try WalletNotification(event: event, uri: uri, shared: shared) })
        else {
            return
        }
        let key = "\(notification.type):\(notification.transaction.paymentHash)"
        let listeners: [AsyncStream<WalletNotification>.Continuation] = state.withLock { state in
            guard state.seenNotifications.insert(key) else { return [] }
            return state.listeners.all
        }
        for listener in listeners { listener.yield(notification) }
    }

    /// The keys shared with the wallet, derived the first time; nil when the wallet's key is not on
    /// the curve (then each message tries again, and fails with the reason).
    private func sharedKeys() -> SharedKeys? {
        try? state.withLock { state throws(NostrError) in try state.sharedKeys.keys(with: uri.walletPubkey) }
    }

    /// How many times the shared keys were derived (once, while the client lives).
    var sharedKeysDerived: Int { state.withLock { $0.sharedKeys.derived } }

    /// The event kinds the subscription asks for (empty before it is open).
    var listenedKinds: Set<Kind> { state.withLock { $0.listening } }

    /// Decodes a wallet event; one that does not decode is logged and dropped.
    private func read<Value>(_ event: Event, as what: String, _ decode: (Event, WalletConnectURI) throws(NostrError) -> Value) -> Value? {
        do {
            return try decode(event, uri)
        } catch {
            logger.warning("unreadable wallet event", metadata: ["event.id": "\(event.id)", "wallet.event": "\(what)", "error": "\(error.message)"])
            return nil
        }
    }

    /// The wallet's pushes (`payment_received`, `payment_sent`), each once, from now on; the
    /// stream ends when the client stops.
    public func notifications() -> AsyncStream<WalletNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: WalletNotification.self, bufferingPolicy: .bufferingNewest(256))
        guard let id = state.withLock({ $0.listeners.add(continuation) }) else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.listeners.remove(id) } }
        return stream
    }

    // MARK: - Info

    /// The wallet's info event (kind 13194), read once and kept for ``Configuration/infoLifetime``;
    /// nil when the wallet has published none (then requests use NIP-04, as NIP-47 says).
    public func info(refresh: Bool = false) async throws(PaymentsError) -> WalletInfo? {
        if !refresh, let cached = state.withLock({ $0.info }), ContinuousClock.now - cached.readAt < configuration.infoLifetime {
            return cached.value
        }
        guard await pool.awaitConnected(1, timeout: configuration.connectTimeout) else { throw unreachable() }
        let events = await pool.fetch([Filter(authors: [uri.walletPubkey], kinds: [NIP47.infoKind], limit: 1)], timeout: configuration.infoTimeout)
        let info = events.max { $0.createdAt < $1.createdAt }.map(WalletInfo.init(event:))
        state.withLock { $0.info = (info, .now) }
        return info
    }

    private func unreachable() -> PaymentsError {
        let reasons = pool.statuses.map { "\($0.url): \($0.lastError ?? $0.state.rawValue)" }.joined(separator: "; ")
        return PaymentsError(
            .unreachable, "cannot reach the wallet's relays within \(configuration.connectTimeout.components.seconds) s (\(reasons))",
            remedy: "check the relays of the wallet connection, or the network")
    }

    // MARK: - Requests

    /// Sends one request and returns its `result`; the wallet's errors become ``PaymentsError``s
    /// with the NIP-47 code. Counted in `pylon_wallet_requests_total{method,outcome}` (`ok` or the code).
    public func request(_ request: WalletRequest, timeout: Duration? = nil) async throws(PaymentsError) -> JSON {
        do {
            let result = try await send(request, timeout: timeout)
            Counter(label: "pylon_wallet_requests_total", dimensions: [("method", request.method.rawValue), ("outcome", "ok")]).increment()
            return result
        } catch {
            Counter(label: "pylon_wallet_requests_total", dimensions: [("method", request.method.rawValue), ("outcome", error.code.rawValue)])
                .increment()
            throw error
        }
    }

    private func send(_ request: WalletRequest, timeout: Duration?) async throws(PaymentsError) -> JSON {
        let timeout = timeout ?? configuration.requestTimeout
        let info = try await self.info()
        if let info, !info.methodNames.isEmpty, !info.methods.contains(request.method) {
            throw PaymentsError(
                .unsupportedMethod, "the wallet does not offer \(request.method.rawValue) (it offers \(info.methodNames.joined(separator: ", ")))")
        }
        guard await subscribed.wait(timeout: configuration.connectTimeout) != nil else { throw unreachable() }
        let now = Int64(Date().timeIntervalSince1970)
        let event: Event
        do {
            event = try request.event(
                to: uri, encryption: info?.preferredEncryption ?? .nip04, now: now, expiration: now + max(timeout.components.seconds, 1) + 5,
                client: clientKeys, shared: sharedKeys())
        } catch {
            throw PaymentsError(.other, "cannot encrypt the request to the wallet: \(error.message)")
        }
        let answer = Promise<WalletResponse?>()
        let registered = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.waiting[event.id] = answer
            return true
        }
        guard registered else { throw PaymentsError(.shutdown, "the wallet connection is closed") }
        defer { _ = state.withLock { $0.waiting.removeValue(forKey: event.id) } }
        let report = await pool.publish(event, timeout: configuration.connectTimeout, waitForAll: false)
        guard report.succeeded else {
            throw PaymentsError(.unreachable, "no wallet relay took the \(request.method.rawValue) request: \(report.failureSummary)")
        }
        guard let outcome = await answer.wait(timeout: timeout) else {
            throw PaymentsError(
                .timedOut, "the wallet did not answer \(request.method.rawValue) within \(timeout.components.seconds) s",
                remedy: "check that the wallet service is running and connected to its relays")
        }
        guard let response = outcome else { throw PaymentsError(.shutdown, "the wallet connection closed before the wallet answered") }
        if let error = response.error { throw PaymentsError(error, method: request.method) }
        if !response.resultType.isEmpty, response.resultType != request.method.rawValue {
            throw PaymentsError(.invalidResponse, "the wallet answered \(request.method.rawValue) with a \(response.resultType.prefix(40)) result")
        }
        return response.result ?? .object([])
    }

    /// `get_info`: the wallet node's alias, network and methods.
    public func getInfo() async throws(PaymentsError) -> WalletNodeInfo {
        WalletNodeInfo(json: try await request(WalletRequest(.getInfo)))
    }

    /// `get_balance`, in millisatoshis.
    public func getBalance() async throws(PaymentsError) -> Int64 {
        let result = try await request(WalletRequest(.getBalance))
        guard let balance = result["balance"]?.int64Value else { throw PaymentsError(.invalidResponse, "the wallet's balance answer has no balance") }
        return balance
    }

    /// `make_invoice`: an invoice for exactly `amountMsats`, checked (the wallet's invoice decodes,
    /// asks that amount and carries the payment hash the wallet reports).
    public func makeInvoice(amountMsats: Int64, description: String, expirySeconds: Int64) async throws(PaymentsError) -> (
        transaction: WalletTransaction, invoice: BOLT11Invoice
    ) {
        let params: JSON = ["amount": .integer(amountMsats), "description": .string(description), "expiry": .integer(expirySeconds)]
        let result = try await request(WalletRequest(.makeInvoice, params))
        let transaction = try Self.transaction(result, method: .makeInvoice)
        guard let text = transaction.invoice else { throw PaymentsError(.invalidResponse, "the wallet made no invoice text") }
        let invoice = try BOLT11Invoice(text) { PaymentsError(.invalidResponse, "the wallet's invoice does not decode: \($0.message)") }
        guard invoice.amountMsats == amountMsats else {
            throw PaymentsError(.invalidResponse, "the wallet's invoice asks for \(invoice.amountMsats.map(String.init) ?? "any amount") msats, not \(amountMsats)")
        }
        guard invoice.paymentHash.hex == transaction.paymentHash else {
            throw PaymentsError(.invalidResponse, "the wallet's invoice and its answer name different payment hashes")
        }
        return (transaction, invoice)
    }

    /// `lookup_invoice` by payment hash.
    public func lookupInvoice(paymentHash: String) async throws(PaymentsError) -> WalletTransaction {
        let result = try await request(WalletRequest(.lookupInvoice, ["payment_hash": .string(paymentHash)]))
        return try Self.transaction(result, method: .lookupInvoice)
    }

    /// `pay_invoice`: pays `invoice` (for an amountless invoice, `amountMsats`); the preimage is
    /// checked against the payment hash.
    public func payInvoice(_ invoice: BOLT11Invoice, amountMsats: Int64? = nil) async throws(PaymentsError) -> (
        preimage: String, feesPaidMsats: Int64?
    ) {
        var params: JSON = ["invoice": .string(invoice.text)]
        if invoice.amountMsats == nil, let amountMsats { params["amount"] = .integer(amountMsats) }
        let result = try await request(WalletRequest(.payInvoice, params))
        guard let preimage = result["preimage"]?.stringValue?.lowercased() else {
            throw PaymentsError(.invalidResponse, "the wallet paid but gave no preimage")
        }
        guard let bytes = Hex.decode(preimage), Array(SHA256.hash(data: bytes)) == Array(invoice.paymentHash.bytes) else {
            throw PaymentsError(.invalidResponse, "the wallet's preimage does not hash to the invoice's payment hash")
        }
        Counter(label: "pylon_payments_sent_msats_total").increment(by: invoice.amountMsats ?? amountMsats ?? 0)
        return (preimage, result["fees_paid"]?.int64Value)
    }

    /// `list_transactions`, newest first.
    public func listTransactions(limit: Int = 20, offset: Int = 0, unpaid: Bool = false) async throws(PaymentsError) -> [WalletTransaction] {
        let params: JSON = ["limit": .integer(Int64(limit)), "offset": .integer(Int64(offset)), "unpaid": .bool(unpaid)]
        let result = try await request(WalletRequest(.listTransactions, params))
        guard let items = result["transactions"]?.arrayValue else {
            throw PaymentsError(.invalidResponse, "the wallet's list_transactions answer has no transactions")
        }
        var transactions: [WalletTransaction] = []
        for item in items { transactions.append(try Self.transaction(item, method: .listTransactions)) }
        return transactions
    }

    static func transaction(_ json: JSON, method: WalletMethod) throws(PaymentsError) -> WalletTransaction {
        do {
            return try WalletTransaction(json: json)
        } catch {
            throw PaymentsError(.invalidResponse, "the wallet's \(method.rawValue) answer is not a transaction: \(error.message)")
        }
    }
}

/// What `get_info` says about the wallet's node.
public struct WalletNodeInfo: Sendable, Equatable {
    public var alias: String?
    public var network: String?
    public var pubkey: String?
    public var methods: [String]
    public var notifications: [String]

    init(json: JSON) {
        alias = json["alias"]?.stringValue
        network = json["network"]?.stringValue
        pubkey = json["pubkey"]?.stringValue
        methods = json["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        notifications = json["notifications"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

/// The last `capacity` keys inserted; older ones are forgotten.
struct BoundedSet: Sendable {
    private var keys: Set<String> = []
    private var order: [String] = []
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// False when `key` is already there.
    mutating func insert(_ key: String) -> Bool {
        guard keys.insert(key).inserted else { return false }
        order.append(key)
        if order.count > capacity { keys.remove(order.removeFirst()) }
        return true
    }
}

extension WalletClient {
    /// Runs a client for the length of `body` (a CLI command, a test): connected, subscribed, then
    /// stopped. Throws `unreachable` when no relay of the wallet connects in time.
    public static func withConnection<R: Sendable>(
        _ uri: WalletConnectURI, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "pylon.payments"),
        _ body: @Sendable (WalletClient) async throws -> R
    ) async throws -> R {
        let client = WalletClient(uri: uri, configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
