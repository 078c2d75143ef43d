public import Foundation
import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import NostrCore
import PylonAsync
import Synchronization
import WSClient

/// The live state of one relay connection, as `status` shows it (SPEC §12).
public enum RelayState: String, Sendable, Codable {
    case connecting
    case connected
    case backingOff = "backing_off"
    case closed
}

/// A snapshot of one relay for `status`.
public struct RelayStatus: Sendable, Hashable {
    public let url: RelayURL
    public let state: RelayState
    public let lastError: String?
    /// When the relay entered this state.
    public let since: Date
    public let limits: RelayLimits
}

/// One relay: connects, reconnects with backoff, re-sends subscriptions, sends queued events and
/// matches their OKs, answers NIP-42 challenges, and hands inbound events to the pool.
///
/// The read loop runs without actor hops: parsing, verification and dedupe happen on the
/// connection's task, so relays are processed in parallel. Shared state is behind one Mutex.
final class RelayConnection: Sendable {
    let url: RelayURL
    let core: PoolCore
    let metrics: RelayMetrics
    let queue: OutboundQueue

    private struct State {
        var phase: RelayState = .connecting
        var lastError: String?
        var since = Date()
        var writer: WebSocketOutboundWriter?
        var connectedAt: ContinuousClock.Instant?
        var inFlight: [EventID: PendingPublish] = [:]
        var limits: RelayLimits = .none
        var limitsFetched = false
        var challenge: String?
        var authEventID: EventID?
        var authenticated = false
        /// Events and subscriptions waiting for authentication to finish.
        var awaitingAuth: [PendingPublish] = []
        var subscriptionsAwaitingAuth: Set<SubscriptionID> = []
        var openSubscriptions: Set<SubscriptionID> = []
        var pausedUntil: ContinuousClock.Instant?
        var stopped = false
    }

    private let state = Mutex(State())
    private let stopSignal = Promise<Void>()

    init(url: RelayURL, core: PoolCore, metricsLabel: String) {
        self.url = url
        self.core = core
        self.metrics = RelayMetrics(relayLabel: metricsLabel)
        self.queue = OutboundQueue(capacity: core.configuration.maxQueuedEvents)
    }

    var logger: Logger {
        var logger = core.logger
        logger[metadataKey: "relay.url"] = "\(url)"
        return logger
    }

    var status: RelayStatus {
        state.withLock { RelayStatus(url: url, state: $0.phase, lastError: $0.lastError, since: $0.since, limits: $0.limits) }
    }

    var isConnected: Bool { state.withLock { $0.phase == .connected } }

    // MARK: Lifecycle

    /// Connects and reconnects until ``stop()`` or cancellation.
    func run() async {
        var backoff = Backoff(initial: core.configuration.initialBackoff, maximum: core.configuration.maximumBackoff)
        var firstAttempt = true
        while !isStopped && !Task.isCancelled {
            if !firstAttempt { metrics.reconnects.increment() }
            firstAttempt = false
            setPhase(.connecting, error: nil)
            var failure: String
            do {
                let close = try await connectOnce()
                failure = close.map { "closed by relay (\($0.closeCode)\($0.reason.map { ": \($0)" } ?? ""))" } ?? "closed by relay"
            } catch {
                failure = Self.describe(error)
            }
            let stable = state.withLock { state -> Bool in
                defer { state.connectedAt = nil }
                guard let at = state.connectedAt else { return false }
                return ContinuousClock.now - at >= core.configuration.stableAfter
            }
            if stable { backoff.reset() }
            if isStopped || Task.isCancelled { break }
            let delay = backoff.next()
            setPhase(.backingOff, error: failure)
            logger.notice("relay connection lost; reconnecting", metadata: ["relay.error": "\(failure)", "relay.retry_in": "\(delay)"])
            _ = await stopSignal.wait(timeout: delay)
        }
        setPhase(.closed, error: state.withLock { $0.lastError })
        failQueued(reason: "the relay pool stopped")
    }

    /// Stops reconnecting and closes the socket.
    func stop() async {
        let writer = state.withLock { state -> WebSocketOutboundWriter? in
            state.stopped = true
            return state.writer
        }
        stopSignal.fulfill(())
        try? await writer?.close(.normalClosure, reason: "bye")
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func setPhase(_ phase: RelayState, error: String?) {
        let changed = state.withLock { state -> Bool in
            let changed = state.phase != phase
            state.phase = phase
            state.lastError = error ?? (phase == .connected ? nil : state.lastError)
            if changed { state.since = Date() }
            return changed
        }
        metrics.connected.record(phase == .connected ? 1 : 0)
        if changed { core.emit(RelayStateChange(url: url, state: phase, error: error)) }
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        for (needle, summary) in [
            ("Connection refused", "connection refused"), ("Connection reset", "connection reset"),
            ("timed out", "connection timed out"), ("No route to host", "no route to host"),
            ("Name or service not known", "unknown host"), ("certificate", "TLS certificate rejected"),
        ] where text.contains(needle) {
            return summary
        }
        if let error = error as? WebSocketClientError { return "websocket: \(error)" }
        if let error = error as? IOError { return "connection failed: \(error.description)" }
        if let error = error as? ChannelError { return "connection failed: \(error)" }
        return "\(error)"
    }

    /// One connection attempt. The NIP-11 document is fetched alongside the websocket handshake;
    /// the writer waits for it (up to the information timeout) before sending, so the relay's
    /// limits apply to the first message already.
    private func connectOnce() async throws -> WebSocketCloseFrame? {
        let information = Promise<Void>()
        let needsInformation = !state.withLock { $0.limitsFetched }
        if !needsInformation { information.fulfill(()) }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: core.configuration.maxMessageSize,
            autoPing: .enabled(timePeriod: core.configuration.pingInterval),
            validateUTF8: true)
        let wsLogger = { var logger = self.logger; logger.logLevel = .warning; return logger }()
        return try await withThrowingTaskGroup(of: WebSocketCloseFrame??.self) { group in
            if needsInformation {
                group.addTask {
                    let limits = await RelayInformation.fetch(self.url, timeout: self.core.configuration.informationTimeout)
                    self.state.withLock {
                        $0.limits = limits ?? .none
                        $0.limitsFetched = limits != nil
                    }
                    information.fulfill(())
                    return .none
                }
            }
            group.addTask {
                let close = try await WebSocketClient.connect(
                    url: self.url.string, configuration: configuration,
                    eventLoopGroup: self.core.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton, logger: wsLogger
                ) {
                    inbound, outbound, _ in
                    self.didConnect(outbound)
                    defer { self.didDisconnect() }
                    try await withThrowingTaskGroup(of: Void.self) { connection in
                        connection.addTask {
                            _ = await information.wait(timeout: self.core.configuration.informationTimeout)
                            try await self.writeLoop(outbound)
                        }
                        try await self.readLoop(inbound)
                        connection.cancelAll()
                    }
                }
                return .some(close)
            }
            while let result = try await group.next() {
                if case .some(let close) = result {
                    group.cancelAll()
                    return close
                }
            }
            return nil
        }
    }

    private func didConnect(_ writer: WebSocketOutboundWriter) {
        state.withLock { state in
            state.writer = writer
            state.connectedAt = .now
            state.authenticated = false
            state.challenge = nil
            state.authEventID = nil
            state.openSubscriptions = []
        }
        setPhase(.connected, error: nil)
        logger.info("relay connected")
    }

    private func didDisconnect() {
        let inFlight = state.withLock { state -> [PendingPublish] in
            state.writer = nil
            let pending = Array(state.inFlight.values) + state.awaitingAuth
            state.inFlight = [:]
            state.awaitingAuth = []
            state.subscriptionsAwaitingAuth = []
            return pending
        }
        // Events sent without an OK go out again on the next connection (a relay that already
        // stored one answers `duplicate:`, which counts as accepted).
        queue.dropTexts()
        queue.pushFront(inFlight.filter { !$0.isResolved }.map { .publish($0) })
        for subscription in core.subscriptions(on: url) { subscription.resetEndOfStoredEvents(url) }
    }

    private func failQueued(reason: String) {
        let pending = state.withLock { state -> [PendingPublish] in
            defer { state.inFlight = [:] }
            return Array(state.inFlight.values)
        }
        for item in pending { item.resolve(.rejected(reason: reason)) }
    }

    // MARK: Writing

    private func writeLoop(_ writer: WebSocketOutboundWriter) async throws {
        for subscription in core.subscriptions(on: url) {
            try await sendSubscription(subscription, writer: writer)
        }
        while let item = await queue.next() {
            if let until = state.withLock({ $0.pausedUntil }), until > .now {
                try await Task.sleep(until: until)
            }
            switch item {
            case .text(let text):
                try await writer.write(.text(text))
            case .publish(let pending):
                guard !pending.isResolved else { continue }
                guard pending.expires > .now else {
                    pending.resolve(.timedOut)
                    continue
                }
                let limits = state.withLock { $0.limits }
                if let violation = limits.violation(for: pending.event, messageBytes: pending.text.utf8.count) {
                    logger.warning("event refused before sending", metadata: ["event.id": "\(pending.event.id)", "relay.error": "\(violation.message)"])
                    metrics.publishFailed.increment()
                    pending.resolve(.rejected(reason: violation.message))
                    continue
                }
                state.withLock { $0.inFlight[pending.event.id] = pending }
                try await writer.write(.text(pending.text))
            }
        }
    }

    private func sendSubscription(_ subscription: SubscriptionRecord, writer: WebSocketOutboundWriter) async throws {
        let refusal: String? = state.withLock { state in
            if let max = state.limits.maxSubscriptions, state.openSubscriptions.count >= max,
                !state.openSubscriptions.contains(subscription.id)
            {
                return "too many subscriptions for this relay (its max_subscriptions is \(max))"
            }
            state.openSubscriptions.insert(subscription.id)
            return nil
        }
        if let refusal {
            subscription.continuation.yield(.closed(relay: url, reason: refusal))
            return
        }
        let filters = subscription.filters(resumingOn: url, margin: core.configuration.resubscribeMargin)
        try await writer.write(.text(ClientMessage.req(subscription.id, filters).jsonString))
    }

    /// Sends a REQ now if connected (otherwise it goes out on connect).
    func subscribe(_ subscription: SubscriptionRecord) {
        // When not connected yet, the writer task sends every subscription on connect; the phase
        // becomes `connected` before it takes that snapshot, so nothing falls in between.
        guard isConnected else { return }
        let refusal: String? = state.withLock { state in
            if let max = state.limits.maxSubscriptions, state.openSubscriptions.count >= max {
                return "too many subscriptions for this relay (its max_subscriptions is \(max))"
            }
            state.openSubscriptions.insert(subscription.id)
            return nil
        }
        if let refusal {
            subscription.continuation.yield(.closed(relay: url, reason: refusal))
            return
        }
        let filters = subscription.filters(resumingOn: url, margin: core.configuration.resubscribeMargin)
        _ = queue.push(.text(ClientMessage.req(subscription.id, filters).jsonString))
    }

    func unsubscribe(_ id: SubscriptionID) {
        let open = state.withLock { $0.openSubscriptions.remove(id) != nil }
        if open { _ = queue.push(.text(ClientMessage.close(id).jsonString)) }
    }

    /// Queues an event for this relay. The returned pending item resolves with the relay's answer.
    func publish(_ event: Event, text: String, expires: ContinuousClock.Instant) -> PendingPublish {
        let pending = PendingPublish(event: event, text: text, expires: expires)
        if !queue.push(.publish(pending)) {
            metrics.queueOverflow.increment()
            metrics.publishFailed.increment()
            logger.warning("relay send queue full; event not queued", metadata: ["event.id": "\(event.id)"])
            pending.resolve(.rejected(reason: "send queue full (\(queue.capacity) events waiting for this relay)"))
        }
        return pending
    }

    // MARK: Reading

    /// How many events may be verified at once, ahead of delivery.
    static let verificationWindow = 16
    /// An event that arrives this long after the previous one, with none being verified, is
    /// verified where it was read: alone, it gains nothing from another thread but costs two
    /// thread wake-ups (a provider's job request is such an event).
    static let burstGap: Duration = .milliseconds(1)

    /// Reads the relay's messages in order. Signature checks, the costly part, run as child tasks
    /// (up to ``verificationWindow`` at once, on the other cores) while the loop parses what
    /// follows, except for an event that arrives alone (``burstGap``), which is checked in place;
    /// a ``DeliverySequencer`` still delivers events in arrival order, and any other message
    /// (EOSE, OK, CLOSED…) waits until every event before it is delivered.
    private func readLoop(_ inbound: WebSocketInboundStream) async throws {
        let sequencer = DeliverySequencer(core: core, relay: url)
        try await withThrowingTaskGroup(of: Void.self) { verifications in
            var inFlight = 0
            var nextSequence = 0
            var lastEventAt: ContinuousClock.Instant?
            for try await frame in inbound.messages(maxSize: core.configuration.maxMessageSize) {
                guard case .text(let text) = frame, let message = parse(text) else { continue }
                if case .event(let subscriptionID, let event) = message {
                    metrics.received.increment()
                    guard let record = core.precheck(event, subscription: subscriptionID, from: url) else { continue }
                    let sequence = nextSequence
                    nextSequence += 1
                    let now = ContinuousClock.now
                    let alone = inFlight == 0 && lastEventAt.map { now - $0 >= Self.burstGap } ?? true
                    lastEventAt = now
                    if alone {
                        sequencer.finish(sequence, event, record: record, rejection: PoolCore.verify(event))
                        continue
                    }
                    inFlight += 1
                    // Verification is the CPU-heavy part: on the shared pool, beside the reader.
                    verifications.addTask(executorPreference: globalConcurrentExecutor) { sequencer.finish(sequence, event, record: record, rejection: PoolCore.verify(event)) }
                    if inFlight >= Self.verificationWindow {
                        try await verifications.next()
                        inFlight -= 1
                    }
                } else {
                    while inFlight > 0 {
                        try await verifications.next()
                        inFlight -= 1
                    }
                    handle(message)
                }
            }
            try await verifications.waitForAll()
        }
    }

    private func parse(_ text: String) -> RelayMessage? {
        do {
            return try RelayMessage(json: text)
        } catch {
            core.reject(.unparseable)
            logger.debug("unparseable relay message", metadata: ["relay.error": "\(error)"])
            return nil
        }
    }

    /// Every message but EVENT (which the read loop verifies and delivers).
    private func handle(_ message: RelayMessage) {
        switch message {
        case .event:
            break  // the read loop checks and delivers events
        case .ok(let id, let accepted, let text):
            handleOK(id: id, accepted: accepted, message: text)
        case .eose(let subscriptionID):
            core.endOfStoredEvents(subscription: subscriptionID, from: url)
        case .closed(let subscriptionID, let reason):
            handleClosed(subscriptionID, reason: reason)
        case .notice(let text):
            metrics.notices.increment()
            logger.notice("relay notice", metadata: ["relay.notice": "\(text.prefix(500))"])
        case .auth(let challenge):
            state.withLock { $0.challenge = challenge }
            authenticate()
        case .count:
            break
        }
    }

    private func handleOK(id: EventID, accepted: Bool, message: String) {
        enum Action {
            case none
            case authenticated([PendingPublish], Set<SubscriptionID>)
            case authFailed([PendingPublish])
            case resolve(PendingPublish)
        }
        let action: Action = state.withLock { state in
            if id == state.authEventID {
                state.authEventID = nil
                let waiting = state.awaitingAuth
                state.awaitingAuth = []
                if accepted {
                    state.authenticated = true
                    let subs = state.subscriptionsAwaitingAuth
                    state.subscriptionsAwaitingAuth = []
                    return .authenticated(waiting, subs)
                }
                return .authFailed(waiting)
            }
            guard let pending = state.inFlight.removeValue(forKey: id) else { return .none }
            return .resolve(pending)
        }
        switch action {
        case .none:
            return
        case .authenticated(let waiting, let subscriptions):
            logger.info("authenticated to relay (NIP-42)")
            queue.pushFront(waiting.map { .publish($0) })
            for id in subscriptions {
                if let subscription = core.subscription(id) { subscribe(subscription) }
            }
        case .authFailed(let waiting):
            logger.warning("relay refused authentication", metadata: ["relay.error": "\(message)"])
            for pending in waiting { pending.resolve(.rejected(reason: "auth-required: the relay refused our authentication (\(message))")) }
        case .resolve(let pending):
            let reason = RelayReason(message: message)
            if accepted || reason == .duplicate {
                metrics.publishAccepted.increment()
                pending.resolve(.accepted(message: message))
                return
            }
            switch reason {
            case .rateLimited:
                let attempt = pending.retried()
                guard attempt <= core.configuration.maxPublishRetries else {
                    metrics.publishFailed.increment()
                    pending.resolve(.rejected(reason: message))
                    return
                }
                metrics.publishRateLimited.increment()
                var backoff = Backoff(initial: core.configuration.rateLimitBackoff, maximum: core.configuration.maximumBackoff)
                var delay = Duration.zero
                for _ in 0..<attempt { delay = backoff.next() }
                logger.notice("relay rate-limited a publish; backing off", metadata: ["event.id": "\(pending.event.id)", "relay.retry_in": "\(delay)"])
                state.withLock { $0.pausedUntil = .now + delay }
                queue.pushFront([.publish(pending)])
            case .authRequired:
                let attempt = pending.retried()
                guard attempt <= 2 else {
                    metrics.publishFailed.increment()
                    pending.resolve(.rejected(reason: message))
                    return
                }
                state.withLock { $0.awaitingAuth.append(pending) }
                authenticate()
            default:
                metrics.publishFailed.increment()
                pending.resolve(.rejected(reason: message.isEmpty ? "rejected by the relay" : message))
            }
        }
    }

    private func handleClosed(_ id: SubscriptionID, reason: String) {
        state.withLock { _ = $0.openSubscriptions.remove(id) }
        if RelayReason(message: reason) == .authRequired {
            let retry = state.withLock { state -> Bool in
                guard !state.authenticated || state.authEventID != nil else { return false }
                state.subscriptionsAwaitingAuth.insert(id)
                return true
            }
            if retry {
                authenticate()
                return
            }
        }
        core.closed(subscription: id, from: url, reason: reason)
    }

    /// Answers the latest NIP-42 challenge with a kind-22242 event (once per challenge).
    private func authenticate() {
        guard let keypair = core.keypair else { return }
        let event: Event? = state.withLock { state in
            guard let challenge = state.challenge, state.authEventID == nil, !state.authenticated else { return nil }
            let event = UnsignedEvent(
                pubkey: keypair.publicKey, createdAt: Int64(Date().timeIntervalSince1970), kind: .clientAuthentication,
                tags: [["relay", url.string], ["challenge", challenge]]
            ).sign(with: keypair)
            state.authEventID = event.id
            return event
        }
        guard let event else { return }
        queue.pushFront([.text(ClientMessage.auth(event).jsonString)])
    }
}

/// A relay changing state, for the journal (`relay.up`, `relay.down`) and logs.
public struct RelayStateChange: Sendable {
    public let url: RelayURL
    public let state: RelayState
    public let error: String?
}

/// Delivers events verified out of order (by the read loop's child tasks) in the order the relay
/// sent them: each finished check is parked until every earlier one has been delivered.
final class DeliverySequencer: Sendable {
    private struct Parked {
        let event: Event
        let record: SubscriptionRecord
        let rejection: InboundRejection?
    }

    private struct State {
        var next = 0
        var parked: [Int: Parked] = [:]
    }

    private let state = Mutex(State())
    private let core: PoolCore
    private let relay: RelayURL

    init(core: PoolCore, relay: RelayURL) {
        self.core = core
        self.relay = relay
    }

    func finish(_ sequence: Int, _ event: Event, record: SubscriptionRecord, rejection: InboundRejection?) {
        state.withLock { state in
            state.parked[sequence] = Parked(event: event, record: record, rejection: rejection)
            // Delivering under the lock keeps the order; delivery only yields to a stream.
            while let ready = state.parked.removeValue(forKey: state.next) {
                core.commit(ready.event, rejection: ready.rejection, record: ready.record, from: relay)
                state.next += 1
            }
        }
    }
}
