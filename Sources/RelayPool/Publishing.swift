import DequeModule
public import NostrCore
import PylonAsync
import Synchronization

/// How one relay answered one published event.
public enum RelayPublishOutcome: Sendable, Hashable {
    /// `["OK", id, true, …]`, or `duplicate:` (the relay already has it).
    case accepted(message: String)
    /// `["OK", id, false, reason]` for a reason that retrying does not fix, or a local refusal
    /// (too large for the relay's limits, queue full).
    case rejected(reason: String)
    /// No answer before the deadline; the event may still be queued for this relay.
    case timedOut

    public var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }
}

/// The result of publishing one event to several relays.
public struct PublishReport: Sendable {
    public let eventID: EventID
    public let outcomes: [RelayURL: RelayPublishOutcome]

    /// At least one relay accepted the event.
    public var succeeded: Bool { outcomes.values.contains { $0.isAccepted } }
    public var acceptedBy: [RelayURL] { outcomes.filter { $0.value.isAccepted }.map(\.key).sorted() }

    /// A one-line summary of why nobody accepted, for error messages.
    public var failureSummary: String {
        outcomes.sorted { $0.key < $1.key }.map { relay, outcome in
            switch outcome {
            case .accepted: "\(relay): accepted"
            case .rejected(let reason): "\(relay): \(reason)"
            case .timedOut: "\(relay): no answer"
            }
        }.joined(separator: "; ")
    }
}

/// One event on its way to one relay: serialized once, retried after `rate-limited:` and
/// `auth-required:`, resolved exactly once.
final class PendingPublish: Sendable {
    let event: Event
    let text: String
    let promise = Promise<RelayPublishOutcome>()
    let expires: ContinuousClock.Instant
    private let attemptCount = Mutex(0)

    init(event: Event, text: String, expires: ContinuousClock.Instant) {
        self.event = event
        self.text = text
        self.expires = expires
    }

    var isResolved: Bool { promise.current != nil }

    func resolve(_ outcome: RelayPublishOutcome) { promise.fulfill(outcome) }

    /// Counts a retry and returns how many there have been.
    func retried() -> Int { attemptCount.withLock { $0 += 1; return $0 } }
}

/// Gathers the relays' answers to one published event without a task waiting for them: reports
/// once, when every relay answered, the first accepted (unless waiting for all), the timeout
/// passed or the caller stopped (the relays that had not answered count as timed out).
final class PublishCollector: Sendable {
    private struct State {
        var outcomes: [RelayURL: RelayPublishOutcome] = [:]
        var timer: LoopTimer?
        var reported = false
    }

    private let eventID: EventID
    private let relays: [RelayURL]
    private let waitForAll: Bool
    private let report: @Sendable (PublishReport) -> Void
    private let state = Mutex(State())

    init(event: Event, relays: [RelayURL], waitForAll: Bool, report: @escaping @Sendable (PublishReport) -> Void) {
        self.eventID = event.id
        self.relays = relays
        self.waitForAll = waitForAll
        self.report = report
    }

    /// Arms the timeout; with no relay at all, reports at once. The timer holds the collector, so
    /// the report comes by the deadline even if every relay's answer is lost; reporting cancels it.
    func start(timeout: Duration) {
        guard !relays.isEmpty else {
            stop()
            return
        }
        let timer = LoopTimer.after(timeout) { self.stop() }
        let late = state.withLock { state in
            state.timer = timer
            return state.reported
        }
        if late { timer.cancel() }
    }

    /// Reports now (the caller stopped waiting).
    func stop() {
        finish { _ in true }
    }

    /// One relay's answer.
    func record(_ relay: RelayURL, _ outcome: RelayPublishOutcome) {
        finish { state in
            state.outcomes[relay] = outcome
            return state.outcomes.count == self.relays.count || (!self.waitForAll && outcome.isAccepted)
        }
    }

    /// Applies `change` and reports if it says the answers are complete, once.
    private func finish(_ change: (inout State) -> Bool) {
        let done: (PublishReport, LoopTimer?)? = state.withLock { state in
            guard !state.reported, change(&state) else { return nil }
            state.reported = true
            var outcomes = state.outcomes
            for relay in relays where outcomes[relay] == nil { outcomes[relay] = .timedOut }
            defer { state.timer = nil }
            return (PublishReport(eventID: eventID, outcomes: outcomes), state.timer)
        }
        guard let (result, timer) = done else { return }
        timer?.cancel()
        report(result)
    }
}

/// What a connection sends, in order.
enum OutboundItem: Sendable {
    /// REQ, CLOSE, AUTH: not retried (subscriptions are re-sent on every connect).
    case text(String)
    case publish(PendingPublish)
}

/// The connection's send queue: FIFO with a front lane for retries, drained on the socket's
/// event loop, bounded for events. While the relay is down, events wait here.
final class OutboundQueue: Sendable {
    private struct State {
        var items: Deque<OutboundItem> = []
        var publishCount = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var publishCount: Int { state.withLock { $0.publishCount } }

    /// Appends; false when the queue already holds `capacity` events.
    func push(_ item: OutboundItem) -> Bool {
        state.withLock { state in
            if case .publish = item {
                guard state.publishCount < capacity else { return false }
                state.publishCount += 1
            }
            state.items.append(item)
            return true
        }
    }

    /// Puts items back at the front (retries, in-flight events after a disconnect). Never refused:
    /// these were already counted.
    func pushFront(_ items: [OutboundItem]) {
        guard !items.isEmpty else { return }
        state.withLock { state in
            state.items.prepend(contentsOf: items)
            state.publishCount += items.reduce(0) { if case .publish = $1 { $0 + 1 } else { $0 } }
        }
    }

    /// The next item, if any.
    func popFirst() -> OutboundItem? {
        state.withLock { state in
            guard let item = state.items.popFirst() else { return nil }
            if case .publish = item { state.publishCount -= 1 }
            return item
        }
    }

    /// Empties the queue and returns the events that were waiting (the connection is gone for good).
    func removeAllPublishes() -> [PendingPublish] {
        state.withLock { state in
            defer {
                state.items.removeAll()
                state.publishCount = 0
            }
            return state.items.compactMap { if case .publish(let pending) = $0 { pending } else { nil } }
        }
    }

    /// Removes text items (REQ/CLOSE/AUTH belong to a connection that is gone) and keeps events.
    func dropTexts() {
        state.withLock { state in
            state.items.removeAll { if case .publish = $0 { false } else { true } }
        }
    }
}
