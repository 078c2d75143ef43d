import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import NostrCore
import PylonAsync
import PylonBasics
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

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
/// Messages are read and written on the socket's event loop (``RelaySocket``): a message is
/// parsed, checked and delivered where it was read, and a queued message goes out from the thread
/// that queued it when that is the socket's. Only bursts leave the loop: their signatures are
/// checked on every core. Shared state is behind one Mutex.
final class RelayConnection: RelaySocketDelegate {
    let url: RelayURL
    let core: PoolCore
    let metrics: RelayMetrics
    /// False for the shared "other" series of relays named only by a request.
    private let ownsMetrics: Bool
    let queue: OutboundQueue

    private struct State {
        var phase: RelayState = .connecting
        var lastError: String?
        var since = Date()
        var socket: RelaySocket?
        /// The socket may carry messages: connected, and the relay's NIP-11 limits known (or
        /// given up on).
        var sending = false
        /// A send is waiting for a rate-limit pause to end.
        var resumeArmed = false
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
    private let bursts: AsyncStream<Burst>
    private let burstInput: AsyncStream<Burst>.Continuation

    init(url: RelayURL, core: PoolCore, metricsLabel: String) {
        self.url = url
        self.core = core
        self.metrics = RelayMetrics(relayLabel: metricsLabel)
        self.ownsMetrics = metricsLabel != RelayMetrics.sharedLabel
        self.queue = OutboundQueue(capacity: core.configuration.maxQueuedEvents)
        (bursts, burstInput) = AsyncStream.makeStream()
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
        await withDiscardingTaskGroup { group in
            // Bursts are checked here, on the shared pool, while the socket holds its reads.
            group.addTask(executorPreference: globalConcurrentExecutor) {
                for await burst in self.bursts { await self.check(burst) }
            }
            await connectUntilStopped()
            burstInput.finish()
        }
    }

    private func connectUntilStopped() async {
        var backoff = Backoff(initial: core.configuration.initialBackoff, maximum: core.configuration.maximumBackoff)
        var firstAttempt = true
        while !isStopped && !Task.isCancelled {
            if !firstAttempt { metrics.reconnects.increment() }
            firstAttempt = false
            setPhase(.connecting, error: nil)
            var failure: String
            do {
                let close = try await connectOnce()
                failure = close.map { "closed by relay (\($0))" } ?? "closed by relay"
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
        failQueued(reason: Self.stoppedReason)
    }

    /// Stops reconnecting and closes the socket. Events still waiting for this relay are answered
    /// at once (rejected): a connection attempt under way may take its full timeout to end.
    func stop() async {
        let socket = state.withLock { state -> RelaySocket? in
            state.stopped = true
            return state.socket
        }
        stopSignal.fulfill(())
        if socket == nil { failQueued(reason: Self.stoppedReason) }
        await socket?.close()
    }

    /// After ``stop()`` for a relay removed from the configuration: its series leave `/metrics`.
    /// The series of relays named only by a request are shared, and stay.
    func retireMetrics() {
        if ownsMetrics { metrics.retire() }
    }

    static let stoppedReason = "the connection to this relay stopped before it answered (removed from the relays, or the pool stopped)"

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
        if case ChannelError.connectTimeout = error { return "connection timed out" }
        let text = "\(error)"
        // Matched without case: NIOSSL's errors carry BoringSSL's names (CERTIFICATE_VERIFY_FAILED).
        let lowered = text.lowercased()
        for (needle, summary) in [
            ("connection refused", "connection refused"), ("connection reset", "connection reset"),
            ("timed out", "connection timed out"), ("no route to host", "no route to host"),
            ("name or service not known", "unknown host"),
            ("certificate", "TLS certificate rejected (it does not verify against the system's trust roots)"),
            ("hostname", "TLS certificate rejected (it names another host)"), ("ssl", "TLS handshake failed"),
        ] where lowered.contains(needle) {
            return summary
        }
        if let error = error as? RelaySocketError { return "websocket: \(error)" }
        if let error = error as? IOError { return "connection failed: \(error.description)" }
        if let error = error as? ChannelError { return "connection failed: \(error)" }
        return text
    }

    /// One connection attempt, until the socket closes. The NIP-11 document is fetched alongside
    /// the WebSocket handshake; nothing is sent before it arrives (or the information timeout
    /// passes), so the relay's limits apply to the first message already.
    private func connectOnce() async throws -> RelayClose? {
        let needsInformation = !state.withLock { $0.limitsFetched }
        let options = RelaySocket.Options(
            maxMessageSize: core.configuration.maxMessageSize, pingInterval: core.configuration.pingInterval,
            connectTimeout: core.configuration.connectTimeout)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let information = Promise<Void>()
            if needsInformation {
                group.addTask {
                    let limits = await RelayInformation.fetch(self.url, timeout: self.core.configuration.informationTimeout)
                    self.state.withLock {
                        $0.limits = limits ?? .none
                        $0.limitsFetched = limits != nil
                    }
                    information.fulfill(())
                }
            } else {
                information.fulfill(())
            }
            let socket = try await RelaySocket.connect(
                to: url, options: options, group: core.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton, delegate: self)
            guard didConnect(socket) else {
                // Stopped during the handshake (the relay was removed, or the pool stops): stop()
                // found no socket to close, so this one closes here and the loop ends.
                group.cancelAll()
                await socket.close()
                return nil
            }
            defer {
                didDisconnect()
                group.cancelAll()  // a NIP-11 fetch still under way
            }
            return try await withTaskCancellationHandler {
                _ = await information.wait(timeout: core.configuration.informationTimeout)
                startSending(on: socket)
                return try await socket.closed.get()
            } onCancel: {
                socket.abort()
            }
        }
    }

    /// Takes the new socket, unless the connection was stopped meanwhile (then false).
    private func didConnect(_ socket: RelaySocket) -> Bool {
        let stopped = state.withLock { state -> Bool in
            guard !state.stopped else { return true }
            state.socket = socket
            state.sending = false
            state.connectedAt = .now
            state.authenticated = false
            state.challenge = nil
            state.authEventID = nil
            state.openSubscriptions = []
            return false
        }
        guard !stopped else { return false }
        setPhase(.connected, error: nil)
        logger.info("relay connected")
        return true
    }

    private func didDisconnect() {
        let inFlight = state.withLock { state -> [PendingPublish] in
            state.socket = nil
            state.sending = false
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

    /// Answers every event this connection still holds, sent or waiting: the connection is gone
    /// for good, and a publish nobody answers would leave its caller waiting.
    private func failQueued(reason: String) {
        let pending = state.withLock { state -> [PendingPublish] in
            defer {
                state.inFlight = [:]
                state.awaitingAuth = []
            }
            return Array(state.inFlight.values) + state.awaitingAuth
        }
        for item in pending + queue.removeAllPublishes() { item.resolve(.rejected(reason: reason)) }
    }

    // MARK: Writing

    /// Opens every subscription, then sends what waited for the connection.
    private func startSending(on socket: RelaySocket) {
        socket.onLoop {
            guard self.isCurrent(socket) else { return }
            socket.send(self.core.subscriptions(on: self.url).compactMap { self.request(for: $0, replacing: true) })
            self.state.withLock { if $0.socket === socket { $0.sending = true } }
            self.drain(socket)
        }
    }

    /// Sends what the queue holds when the socket may send: on the socket's event loop, so sends
    /// keep the order in which they were queued.
    private func flush() {
        guard let socket = state.withLock({ $0.sending ? $0.socket : nil }) else { return }
        socket.onLoop { self.drain(socket) }
    }

    private func isCurrent(_ socket: RelaySocket) -> Bool { state.withLock { $0.socket === socket } }

    /// Takes everything from the queue and writes it with one flush; waits out a rate-limit pause.
    ///
    /// What goes out is taken, and recorded as in flight, under the lock that says which socket is
    /// current: a disconnect either happens before (nothing is taken) or after (it finds every
    /// event taken in flight and queues it again for the next connection).
    private func drain(_ socket: RelaySocket) {
        var expired: [PendingPublish] = []
        var refused: [(PendingPublish, String)] = []
        let texts = state.withLock { state -> [String] in
            guard state.socket === socket, state.sending else { return [] }
            if let until = state.pausedUntil, until > .now {
                if !state.resumeArmed {
                    state.resumeArmed = true
                    LoopTimer.at(until, on: socket.eventLoop) {
                        self.state.withLock { $0.resumeArmed = false }
                        self.flush()
                    }
                }
                return []
            }
            var texts: [String] = []
            while let item = queue.popFirst() {
                switch item {
                case .text(let text):
                    texts.append(text)
                case .publish(let pending):
                    guard !pending.isResolved else { continue }
                    guard pending.expires > .now else {
                        expired.append(pending)
                        continue
                    }
                    if let violation = state.limits.violation(for: pending.event, messageBytes: pending.text.utf8.count) {
                        refused.append((pending, violation.message))
                        continue
                    }
                    state.inFlight[pending.event.id] = pending
                    texts.append(pending.text)
                }
            }
            return texts
        }
        socket.send(texts)
        for pending in expired { pending.resolve(.timedOut) }
        for (pending, reason) in refused {
            logger.warning("event refused before sending", metadata: ["event.id": "\(pending.event.id)", "relay.error": "\(reason)"])
            metrics.publishFailed.increment()
            pending.resolve(.rejected(reason: reason))
        }
    }

    /// The REQ for `subscription`, or nil when the relay's `max_subscriptions` leaves no room (the
    /// subscription then hears `CLOSED` from this relay). `replacing`: it may already be open here.
    private func request(for subscription: SubscriptionRecord, replacing: Bool) -> String? {
        let refusal: String? = state.withLock { state in
            if let max = state.limits.maxSubscriptions, state.openSubscriptions.count >= max,
                !(replacing && state.openSubscriptions.contains(subscription.id))
            {
                return "too many subscriptions for this relay (its max_subscriptions is \(max))"
            }
            state.openSubscriptions.insert(subscription.id)
            return nil
        }
        if let refusal {
            subscription.continuation.yield(.closed(relay: url, reason: refusal))
            return nil
        }
        let filters = subscription.filters(resumingOn: url, margin: core.configuration.resubscribeMargin)
        return ClientMessage.req(subscription.id, filters).jsonString
    }

    /// Sends a REQ now if connected (otherwise it goes out on connect).
    func subscribe(_ subscription: SubscriptionRecord) {
        // When not connected yet, every subscription goes out on connect; the phase becomes
        // `connected` before that snapshot is taken, so nothing falls in between.
        guard isConnected, let text = request(for: subscription, replacing: false) else { return }
        _ = queue.push(.text(text))
        flush()
    }

    func unsubscribe(_ id: SubscriptionID) {
        let open = state.withLock { $0.openSubscriptions.remove(id) != nil }
        guard open else { return }
        _ = queue.push(.text(ClientMessage.close(id).jsonString))
        flush()
    }

    /// Queues an event for this relay. The returned pending item resolves with the relay's answer.
    func publish(_ event: Event, text: String, expires: ContinuousClock.Instant) -> PendingPublish {
        let pending = PendingPublish(event: event, text: text, expires: expires)
        if queue.push(.publish(pending)) {
            flush()
        } else {
            metrics.queueOverflow.increment()
            metrics.publishFailed.increment()
            logger.warning("relay send queue full; event not queued", metadata: ["event.id": "\(event.id)"])
            pending.resolve(.rejected(reason: "send queue full (\(queue.capacity) events waiting for this relay)"))
        }
        return pending
    }

    // MARK: Reading

    /// A read that brought at least this many events is a burst: its signatures are checked on
    /// every core while the socket holds further reads. Fewer are checked where they were read:
    /// alone, an event gains nothing from another thread but costs two thread wake-ups (a
    /// provider's job request is such an event).
    static let burstSize = 4

    /// One message of a burst, in the relay's order.
    enum BurstItem: Sendable {
        case event(Event, SubscriptionRecord)
        case message(RelayMessage)
    }

    struct Burst: Sendable {
        let items: [BurstItem]
        let resume: @Sendable () -> Void
    }

    /// The messages of one read, in order: parsed, events prechecked (dedupe, subscription) and
    /// verified, then delivered; any other message (EOSE, OK, CLOSED…) after the events before it.
    func socketReceived(_ messages: [String], resume: @escaping @Sendable () -> Void) -> Bool {
        var items: [BurstItem] = []
        items.reserveCapacity(messages.count)
        var events = 0
        for text in messages {
            guard let message = parse(text) else { continue }
            if case .event(let subscriptionID, let event) = message {
                metrics.received.increment()
                guard let record = core.precheck(event, subscription: subscriptionID, from: url) else { continue }
                items.append(.event(event, record))
                events += 1
            } else {
                items.append(.message(message))
            }
        }
        if events >= Self.burstSize, case .enqueued = burstInput.yield(Burst(items: items, resume: resume)) {
            return true
        }
        for item in items {
            switch item {
            case .event(let event, let record): core.commit(event, rejection: PoolCore.verify(event), record: record, from: url)
            case .message(let message): handle(message)
            }
        }
        return false
    }

    /// Verifies a burst's events on every core, then delivers the burst in order and lets the
    /// socket read on.
    private func check(_ burst: Burst) async {
        let events = burst.items.compactMap { if case .event(let event, _) = $0 { event } else { nil } }
        let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, events.count))
        let size = (events.count + lanes - 1) / lanes
        var rejections = [InboundRejection?](repeating: nil, count: events.count)
        await withTaskGroup(of: (Int, [InboundRejection?]).self) { group in
            for start in stride(from: 0, to: events.count, by: size) {
                let slice = events[start..<min(start + size, events.count)]
                group.addTask { (start, slice.map(PoolCore.verify)) }
            }
            for await (start, checked) in group {
                rejections.replaceSubrange(start..<start + checked.count, with: checked)
            }
        }
        var index = 0
        for item in burst.items {
            switch item {
            case .event(let event, let record):
                core.commit(event, rejection: rejections[index], record: record, from: url)
                index += 1
            case .message(let message):
                handle(message)
            }
        }
        burst.resume()
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
            flush()
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
                flush()
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
        flush()
    }
}

/// A relay changing state, for the journal (`relay.up`, `relay.down`) and logs.
public struct RelayStateChange: Sendable {
    public let url: RelayURL
    public let state: RelayState
    public let error: String?
}
