import PylonAsync
import Synchronization

/// Enforces the first-token, idle and total timeouts of one streaming call.
///
/// The reader reports progress (``activity(at:)``: one lock and one clock read per body
/// chunk); a ``LoopTimer`` armed for the current deadline checks, when it fires, whether progress
/// moved the deadline on (then it re-arms for the new one) or the phase expired. It fires about
/// once per idle period; a deadline that moves earlier (output starting, the answer complete)
/// re-arms it at once.
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

    /// How a watched call ends when the watchdog decides.
    enum Outcome: Sendable {
        case expired(Phase)
        case finished(InferenceSummary)
    }

    private struct State {
        var deadline: ContinuousClock.Instant
        var phase: Phase
        var summary: InferenceSummary?
        /// Set by ``arm(_:)``; nil before, and after the watchdog decided or was disarmed.
        var armed: Armed?
    }

    private struct Armed {
        var timer: LoopTimer
        var firesAt: ContinuousClock.Instant
        let expire: @Sendable (Outcome) -> Void
    }

    /// How long reading the rest of the body may take after the answer is complete.
    static let drainGrace: Duration = .milliseconds(500)

    let idle: Duration
    let end: ContinuousClock.Instant
    /// Guards the deadline the reader moves and the timer reads, and the handed-over result.
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
            rearmIfEarlier(&state)
        }
    }

    /// The answer is complete: from now on a stall ends the call with this result.
    func finished(_ summary: InferenceSummary, at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.summary = summary
            state.phase = .drain
            state.deadline = now + Self.drainGrace
            rearmIfEarlier(&state)
        }
    }

    /// Starts watching: `expire` is called once, from an event loop, when a deadline passes with no
    /// progress, unless ``disarm()`` comes first.
    func arm(_ expire: @escaping @Sendable (Outcome) -> Void) {
        state.withLock { state in
            state.armed = Armed(timer: timer(at: state.deadline), firesAt: state.deadline, expire: expire)
        }
    }

    /// Stops watching (the call ended).
    func disarm() {
        state.withLock { state in
            state.armed?.timer.cancel()
            state.armed = nil
        }
    }

    private func timer(at instant: ContinuousClock.Instant) -> LoopTimer {
        LoopTimer.at(instant) { [weak self] in self?.check() }
    }

    /// A deadline that moved earlier than the armed timer needs the timer moved too.
    private func rearmIfEarlier(_ state: inout State) {
        guard let armed = state.armed, state.deadline < armed.firesAt else { return }
        rearm(&state)
    }

    private func rearm(_ state: inout State) {
        state.armed?.timer.cancel()
        state.armed?.timer = timer(at: state.deadline)
        state.armed?.firesAt = state.deadline
    }

    /// The timer fired: expire, or re-arm for a deadline that progress moved on.
    private func check() {
        let decision: ((@Sendable (Outcome) -> Void), Outcome)? = state.withLock { state in
            guard let expire = state.armed?.expire else { return nil }
            guard ContinuousClock.now >= state.deadline else {
                rearm(&state)
                return nil
            }
            state.armed = nil
            if state.phase == .drain, let summary = state.summary { return (expire, .finished(summary)) }
            return (expire, .expired(state.phase))
        }
        if let (expire, outcome) = decision { expire(outcome) }
    }
}

/// Runs `body` (which reads a response and reports progress to the watchdog) against the
/// watchdog; whichever ends first ends the call. A timeout cancels `body` (for HTTP: closes the
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
    let first = Promise<Result<InferenceSummary, any Error>>()
    watchdog.arm { outcome in
        switch outcome {
        case .finished(let summary): first.fulfill(.success(summary))
        case .expired(let phase): first.fulfill(.failure(timeoutError(phase)))
        }
    }
    let result = await first.race {
        do {
            return .success(try await body(watchdog))
        } catch {
            return .failure(error)
        }
    }
    watchdog.disarm()
    guard let result else { throw CancellationError() }
    return try result.get()
}
