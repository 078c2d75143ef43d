import CoreMetrics
public import Logging
public import NIOCore
public import NostrCore
import PylonAsync
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The shared relay pool (a ServiceLifecycle `Service`).
///
/// Connects to every configured relay and keeps the connections up; subscriptions are sent to
/// every relay and re-sent after reconnects; inbound events are verified (id and signature) and
/// delivered once per subscription; publishing reports each relay's OK.
public final class RelayPool: Service, Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Relays to read from and write to.
        public var relays: [RelayURL]
        /// A ping still unanswered when the next one is due ends the connection.
        public var pingInterval: Duration = .seconds(20)
        /// For the TCP connection and, again, for the WebSocket handshake.
        public var connectTimeout: Duration = .seconds(10)
        public var initialBackoff: Duration = .seconds(1)
        public var maximumBackoff: Duration = .seconds(60)
        /// A connection that stayed up this long resets the backoff. Relays drop busy connections
        /// when a message budget runs out (rust-nostr's after ~18 s of a provider's full load), so
        /// this is short: such a relay gets one reconnect per drop, not ever longer outages.
        public var stableAfter: Duration = .seconds(15)
        public var informationTimeout: Duration = .seconds(3)
        public var publishTimeout: Duration = .seconds(10)
        /// How long an event keeps trying to reach a relay that is down.
        public var publishExpiry: Duration = .seconds(300)
        public var maxQueuedEvents = 1000
        public var maxPublishRetries = 5
        public var rateLimitBackoff: Duration = .seconds(1)
        /// Largest inbound message accepted.
        public var maxMessageSize = 1 << 22
        /// On reconnect, `since` is set this many seconds before the newest event seen.
        public var resubscribeMargin: Int64 = 10
        /// Ids remembered per subscription for dedupe (memory is bounded by this).
        public var dedupeCapacity = 100_000

        public init(relays: [RelayURL]) {
            self.relays = relays
        }
    }

    let core: PoolCore
    private let connections = Mutex<[RelayURL: RelayConnection]>([:])
    private let commands: AsyncStream<Command>
    private let commandContinuation: AsyncStream<Command>.Continuation

    enum Command: Sendable {
        case start(RelayConnection)
    }

    /// - Parameters:
    ///   - keypair: signs NIP-42 authentication; nil means the pool cannot authenticate.
    ///   - eventLoopGroup: where the connections live (NIO's shared group by default). The daemon
    ///     passes the event loop its tasks prefer, so a frame read resumes its reader in place.
    public init(
        configuration: Configuration, keypair: Keypair?, logger: Logger = Logger(label: "pylon.relay"),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        core = PoolCore(configuration: configuration, keypair: keypair, logger: logger, eventLoopGroup: eventLoopGroup)
        (commands, commandContinuation) = AsyncStream.makeStream()
        for url in configuration.relays { _ = connection(for: url, configured: true) }
    }

    /// State changes of every relay (connecting, connected, backing off, closed).
    public var stateChanges: AsyncStream<RelayStateChange> { core.stateChanges }

    /// Runs the connections until graceful shutdown: then unsent events get a moment to go out
    /// and the sockets close.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // Every connection, including those made in `init`, arrives as a `.start` command.
            await withGracefulShutdownHandler {
                for await command in commands {
                    switch command {
                    case .start(let connection): group.addTask { await connection.run() }
                    }
                }
            } onGracefulShutdown: {
                self.commandContinuation.finish()
            }
            await drain(deadline: .now + .seconds(2))
            for connection in connections.withLock({ Array($0.values) }) { await connection.stop() }
        }
        core.finishAll()
    }

    /// Waits up to `deadline` for queued events to go out.
    private func drain(deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            let waiting = connections.withLock { $0.values.contains { $0.isConnected && $0.queue.publishCount > 0 } }
            if !waiting { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func connection(for url: RelayURL, configured: Bool) -> RelayConnection {
        connections.withLock { connections in
            if let existing = connections[url] { return existing }
            let label = configured ? url.string : RelayMetrics.sharedLabel
            let connection = RelayConnection(url: url, core: core, metricsLabel: label)
            connections[url] = connection
            commandContinuation.yield(.start(connection))
            return connection
        }
    }

    /// Applies a new relay list (config reload): new relays connect, removed ones close.
    public func update(relays: [RelayURL]) async {
        core.updateRelays(relays)
        let wanted = Set(relays)
        let removed = connections.withLock { connections -> [RelayConnection] in
            let gone = connections.keys.filter { !wanted.contains($0) }
            return gone.compactMap { connections.removeValue(forKey: $0) }
        }
        for url in relays { _ = connection(for: url, configured: true) }
        for connection in removed {
            await connection.stop()
            connection.retireMetrics()
        }
    }

    /// The configured relays, in order.
    public var relays: [RelayURL] { core.relays }

    /// Every relay's state for `status`.
    public var statuses: [RelayStatus] {
        let all = connections.withLock { $0 }
        return core.relays.compactMap { all[$0]?.status }
    }

    /// Events delivered and dropped since start.
    public var statistics: RelayPoolStatistics { core.statistics }

    /// Relays currently connected.
    public var connectedCount: Int { connections.withLock { $0.values.filter(\.isConnected).count } }

    /// Waits until at least `count` relays are connected (every configured relay when nil), woken
    /// by the connections' state changes; false when `timeout` passes or the task is cancelled
    /// first.
    public func awaitConnected(_ count: Int? = nil, timeout: Duration) async -> Bool {
        let wanted = count ?? relays.count
        let deadline = ContinuousClock.now + timeout
        while true {
            // The next change is taken before the count is read, so none falls in between.
            let change = core.nextChange()
            if connectedCount >= wanted { return true }
            let left = deadline - .now
            guard left > .zero, !Task.isCancelled else { return false }
            _ = await change.wait(timeout: left)
        }
    }

    // MARK: Subscriptions

    /// Subscribes on every relay (or only `relays`). The subscription lives until closed or
    /// until its stream is no longer iterated.
    public func subscribe(_ filters: [Filter], relays: [RelayURL]? = nil, id: SubscriptionID? = nil) -> PoolSubscription {
        let id = id ?? core.nextSubscriptionID()
        let (stream, continuation) = AsyncStream<SubscriptionEvent>.makeStream()
        let record = SubscriptionRecord(
            id: id, filters: filters, relays: relays.map(Set.init), dedupeCapacity: core.configuration.dedupeCapacity,
            continuation: continuation)
        core.add(record)
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        let targets = relays.map { $0.map { connection(for: $0, configured: core.relays.contains($0)) } } ?? connections.withLock { Array($0.values) }
        for connection in targets where record.includes(connection.url) { connection.subscribe(record) }
        return PoolSubscription(id: id, events: stream, pool: self)
    }

    func unsubscribe(_ id: SubscriptionID) {
        guard let record = core.remove(id) else { return }
        record.continuation.finish()
        for connection in connections.withLock({ Array($0.values) }) { connection.unsubscribe(id) }
    }

    /// Fetches stored events: subscribes, collects until every connected relay sent EOSE (or
    /// `timeout`), then closes. Events are verified and deduplicated.
    public func fetch(_ filters: [Filter], relays: [RelayURL]? = nil, timeout: Duration = .seconds(5)) async -> [Event] {
        let expected = Set((relays ?? core.relays).filter { url in connections.withLock { $0[url]?.isConnected ?? false } })
        if expected.isEmpty { return [] }
        let subscription = subscribe(filters, relays: relays)
        defer { subscription.close() }
        // The timeout closes the subscription, which ends the loop below with what came so far.
        let timer = LoopTimer.after(timeout) { subscription.close() }
        defer { timer.cancel() }
        var events: [Event] = []
        var finished = Set<RelayURL>()
        for await item in subscription.events {
            switch item {
            case .event(let event, _): events.append(event)
            case .endOfStoredEvents(let relay), .closed(let relay, _):
                finished.insert(relay)
                if finished.isSuperset(of: expected) { return events }
            }
        }
        return events
    }

    // MARK: Publishing

    /// Publishes to every configured relay plus `extraRelays` (for example a request's `relays`
    /// tag). Waits until every relay answered or `timeout` passed (or, with `waitForAll: false`,
    /// until the first relay accepts). Relays that do not answer in time keep trying in the
    /// background until the event expires.
    public func publish(_ event: Event, extraRelays: [RelayURL] = [], timeout: Duration? = nil, waitForAll: Bool = true) async -> PublishReport {
        let report = Promise<PublishReport>()
        let collector = collect(event, extraRelays: extraRelays, timeout: timeout, waitForAll: waitForAll) { report.fulfill($0) }
        if let done = await report.wait() { return done }
        // Cancelled: report now, the relays that have not answered as timed out.
        collector.stop()
        return report.current ?? PublishReport(eventID: event.id, outcomes: [:])
    }

    /// Publishes as ``publish(_:extraRelays:timeout:waitForAll:)`` does, without waiting: the
    /// event is queued for each relay before this returns, and `completion` gets the same report
    /// when that call would have returned, from wherever the deciding answer or the timeout
    /// arrives. No task waits for the answers.
    public func publish(
        _ event: Event, extraRelays: [RelayURL] = [], timeout: Duration? = nil, waitForAll: Bool = true,
        completion: @escaping @Sendable (PublishReport) -> Void
    ) {
        _ = collect(event, extraRelays: extraRelays, timeout: timeout, waitForAll: waitForAll, completion: completion)
    }

    /// Queues the event for the relays and gathers their answers into one report (both publishes).
    private func collect(
        _ event: Event, extraRelays: [RelayURL], timeout: Duration?, waitForAll: Bool,
        completion: @escaping @Sendable (PublishReport) -> Void
    ) -> PublishCollector {
        let pending = send(event, extraRelays: extraRelays)
        let logger = core.logger
        let collector = PublishCollector(event: event, relays: pending.map(\.0), waitForAll: waitForAll) { report in
            if !report.succeeded {
                logger.warning("no relay accepted an event", metadata: ["event.id": "\(event.id)", "event.kind": "\(event.kind)"])
            }
            completion(report)
        }
        collector.start(timeout: timeout ?? core.configuration.publishTimeout)
        for (url, item) in pending {
            item.promise.whenFulfilled { collector.record(url, $0) }
        }
        return collector
    }

    /// Serializes `event` once and queues it for the configured relays and `extraRelays`.
    private func send(_ event: Event, extraRelays: [RelayURL]) -> [(RelayURL, PendingPublish)] {
        let text = ClientMessage.event(event).jsonString
        let expires = ContinuousClock.now + core.configuration.publishExpiry
        var targets = core.relays
        for relay in extraRelays where !targets.contains(relay) { targets.append(relay) }
        return targets.map { url in
            (url, connection(for: url, configured: core.relays.contains(url)).publish(event, text: text, expires: expires))
        }
    }
}

/// The state every connection shares: configuration, identity, subscriptions, state-change
/// stream. Separate from ``RelayPool`` so connections do not retain the pool.
final class PoolCore: Sendable {
    let configuration: RelayPool.Configuration
    let keypair: Keypair?
    let logger: Logger
    let eventLoopGroup: (any EventLoopGroup)?
    let stateChanges: AsyncStream<RelayStateChange>
    private let stateContinuation: AsyncStream<RelayStateChange>.Continuation
    private let changed = Mutex(Promise<Void>())

    private struct State {
        var relays: [RelayURL]
        var subscriptions: [SubscriptionID: SubscriptionRecord] = [:]
        var counter = 0
    }

    private let state: Mutex<State>
    private let counts = Mutex(RelayPoolStatistics())

    var statistics: RelayPoolStatistics { counts.withLock { $0 } }

    private let rejected = RelayMetrics.rejectedCounters()

    func reject(_ reason: InboundRejection) {
        rejected[reason]?.increment()
        counts.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    init(configuration: RelayPool.Configuration, keypair: Keypair?, logger: Logger, eventLoopGroup: (any EventLoopGroup)?) {
        self.configuration = configuration
        self.keypair = keypair
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        state = Mutex(State(relays: configuration.relays))
        (stateChanges, stateContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1000))
    }

    var relays: [RelayURL] { state.withLock { $0.relays } }

    func updateRelays(_ relays: [RelayURL]) { state.withLock { $0.relays = relays } }

    func emit(_ change: RelayStateChange) {
        stateContinuation.yield(change)
        changed.withLock { current -> Promise<Void> in
            defer { current = Promise() }
            return current
        }.fulfill(())
    }

    /// Fulfilled at the next state change of any relay.
    func nextChange() -> Promise<Void> { changed.withLock { $0 } }

    func nextSubscriptionID() -> SubscriptionID {
        state.withLock { state in
            state.counter += 1
            return "pylon-\(state.counter)"
        }
    }

    func add(_ record: SubscriptionRecord) { state.withLock { $0.subscriptions[record.id] = record } }
    func remove(_ id: SubscriptionID) -> SubscriptionRecord? { state.withLock { $0.subscriptions.removeValue(forKey: id) } }
    func subscription(_ id: SubscriptionID) -> SubscriptionRecord? { state.withLock { $0.subscriptions[id] } }

    func subscriptions(on relay: RelayURL) -> [SubscriptionRecord] {
        state.withLock { $0.subscriptions.values.filter { $0.includes(relay) } }
    }

    /// Checks and delivers an inbound event: known subscription, not yet delivered, matching its
    /// filters, valid id, valid signature. Runs on the connection's task.
    /// The checks that need no signature: a known subscription, not delivered yet, matching its
    /// filters. Returns the subscription, or nil after counting the rejection.
    func precheck(_ event: Event, subscription id: SubscriptionID, from relay: RelayURL) -> SubscriptionRecord? {
        guard let record = subscription(id) else {
            reject(.unknownSubscription)
            return nil
        }
        if record.alreadyDelivered(event.id) {
            reject(.duplicate)
            return nil
        }
        guard Filter.anyMatches(record.filters, event) else {
            reject(.filterMismatch)
            logger.debug("relay sent an event that does not match the subscription", metadata: ["relay.url": "\(relay)", "event.id": "\(event.id)"])
            return nil
        }
        return record
    }

    /// The id and signature check (what a read loop may run on another core).
    static func verify(_ event: Event) -> InboundRejection? {
        guard event.hasValidID else { return .invalidID }
        guard event.hasValidSignature else { return .invalidSignature }
        return nil
    }

    /// Delivers a checked event once, or counts why not.
    func commit(_ event: Event, rejection: InboundRejection?, record: SubscriptionRecord, from relay: RelayURL) {
        switch rejection {
        case .invalidID?:
            reject(.invalidID)
            logger.notice("dropped an event whose id does not match its content", metadata: ["relay.url": "\(relay)", "event.id": "\(event.id)"])
            return
        case .invalidSignature?:
            reject(.invalidSignature)
            logger.notice("dropped an event with an invalid signature", metadata: ["relay.url": "\(relay)", "event.id": "\(event.id)"])
            return
        case let other?:
            reject(other)
            return
        case nil:
            break
        }
        guard record.markDelivered(event, from: relay) else {
            reject(.duplicate)
            return
        }
        counts.withLock { $0.delivered += 1 }
        record.continuation.yield(.event(event, relay: relay))
    }

    func endOfStoredEvents(subscription id: SubscriptionID, from relay: RelayURL) {
        guard let record = subscription(id), record.markEndOfStoredEvents(relay) else { return }
        record.continuation.yield(.endOfStoredEvents(relay: relay))
    }

    func closed(subscription id: SubscriptionID, from relay: RelayURL, reason: String) {
        subscription(id)?.continuation.yield(.closed(relay: relay, reason: reason))
    }

    func finishAll() {
        let records = state.withLock { state -> [SubscriptionRecord] in
            defer { state.subscriptions = [:] }
            return Array(state.subscriptions.values)
        }
        for record in records { record.continuation.finish() }
        stateContinuation.finish()
    }
}
