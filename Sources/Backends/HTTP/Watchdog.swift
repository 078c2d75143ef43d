import Synchronization

/// Enforces the first-token, idle and total timeouts of one streaming call.
///
/// The reading task reports progress (``activity(at:)``: one lock and one clock read per body
/// chunk); ``run()`` sleeps until the current deadline and reports the phase that expired, so the
/// caller can throw a `timeout` and cancel the reader. It wakes about once per idle period.
///
/// Once the server said it is done, the reader hands over the result (``finished(_:)``) and reads
/// the rest of the body so the connection can be reused; a server that then stalls costs at most
/// the drain grace, after which the result stands.
final class Watchdog: Sendable {
    enum Phase: Sendable {
        /// No output yet.
        case firstToken
        /// Output started, then stopped.
        case idle
        /// The request's own deadline.
        case deadline
        /// The answer is complete; reading the rest of the body took too long.
        case drain
    }

    /// What ``run()`` ends with.
    enum Outcome: Sendable {
        case expired(Phase)
        case finished(InferenceSummary)
    }

    private struct State {
        var deadline: ContinuousClock.Instant
        var phase: Phase
        var summary: InferenceSummary?
    }

    /// How long reading the rest of the body may take after the answer is complete.
    static let drainGrace: Duration = .milliseconds(500)

    let idle: Duration
    let end: ContinuousClock.Instant
    /// Guards the deadline the reader moves and the watchdog reads, and the handed-over result.
    private let state: Mutex<State>

    init(start: ContinuousClock.Instant, firstToken: Duration, idle: Duration, end: ContinuousClock.Instant) {
        self.idle = idle
        self.end = end
        let first = start + firstToken
        self.state = Mutex(
            first < end
                ? State(deadline: first, phase: .firstToken)
                : State(deadline: end, phase: .deadline)
        )
    }

    /// The deadline for the response head: the first-token deadline (or the end).
    var firstDeadline: ContinuousClock.Instant {
        state.withLock { $0.deadline }
    }

    /// The response made progress at `now`: the next deadline is `now + idle` (or the end).
    func activity(at now: ContinuousClock.Instant = .now) {
        let next = now + idle
        state.withLock { state in
            guard state.phase != .drain else { return }
            if next < end {
                state.deadline = next
                state.phase = .idle
            } else {
                state.deadline = end
                state.phase = .deadline
            }
        }
    }

    /// The answer is complete: from now on a stall ends the call with this result.
    func finished(_ summary: InferenceSummary, at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.summary = summary
            state.phase = .drain
            state.deadline = now + Self.drainGrace
        }
    }

    /// Sleeps until a deadline passes with no progress. Throws `CancellationError` when
    /// cancelled (the call finished).
    func run() async throws -> Outcome {
        while true {
            let current = state.withLock { $0 }
            let now = ContinuousClock.now
            if now >= current.deadline {
                if current.phase == .drain, let summary = current.summary { return .finished(summary) }
                return .expired(current.phase)
            }
            // Output starting moves the deadline to `now + idle`, which may be earlier than the
            // first-token deadline; waking at least once per idle period (or drain grace) catches
            // that on time, since a deadline set while asleep is never earlier than the wake-up.
            let nap = min(idle, Self.drainGrace)
            try await Task.sleep(until: min(current.deadline, now + nap), clock: .continuous)
        }
    }
}

/// Runs `body` (which reads a response and reports progress to the watchdog) beside a watchdog
/// task; whichever ends first ends the call. A timeout cancels `body` (for HTTP: closes the
/// connection) and throws `timeoutError(phase)`.
func withWatchdog(
    start: ContinuousClock.Instant,
    timeouts: BackendTimeouts,
    deadline: ContinuousClock.Instant?,
    timeoutError: @escaping @Sendable (Watchdog.Phase) -> BackendError,
    body: @escaping @Sendable (Watchdog) async throws(BackendError) -> InferenceSummary
) async throws -> InferenceSummary {
    let end = deadline ?? start + timeouts.total
    let watchdog = Watchdog(start: start, firstToken: timeouts.firstToken, idle: timeouts.idle, end: end)
    return try await withThrowingTaskGroup(of: InferenceSummary?.self) { group in
        group.addTask {
            switch try await watchdog.run() {
            case .finished(let summary): return summary
            case .expired(let phase): throw timeoutError(phase)
            }
        }
        group.addTask {
            try await body(watchdog)
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let summary = result { return summary }
        }
        throw CancellationError()
    }
}
