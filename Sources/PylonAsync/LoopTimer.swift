/// PylonAsync: the small waiting primitives the daemon's modules share: ``Promise`` (a value set
/// once and awaited) and ``LoopTimer`` (a cancellable timer on an event loop).
///
/// A timer here is an entry in a NIO event loop's timer heap: scheduling it from the loop thread
/// is a heap insert and cancelling it removes the entry. `Task.sleep` on Linux instead arms a
/// Dispatch timer (a wake-up of Dispatch's manager thread) that stays armed until it fires even
/// when the sleeping task is cancelled, so a per-job deadline of five minutes left every finished
/// job's timer in the heap for five minutes.

public import NIOCore
import NIOPosix

/// A one-shot timer on an event loop; ``cancel()`` stops it if it has not fired.
///
/// It is a scheduled callback (`scheduleCallback`), not a scheduled task: `scheduleTask` also
/// makes an `EventLoopPromise` per timer, a generic future whose creation and release looked up
/// its metadata at run time, for every publish and job deadline.
public struct LoopTimer: Sendable {
    /// Nil when the loop was shut down: such a timer never fires.
    private let scheduled: NIOScheduledCallback?

    private struct Fire: NIOScheduledCallbackHandler, Sendable {
        let fire: @Sendable () -> Void
        func handleScheduledCallback(eventLoop: some EventLoop) { fire() }
    }

    /// Calls `fire` on an event loop of `group` (NIO's shared group when nil) once `delay` has
    /// passed. From a thread of the group the timer goes on that thread's own loop.
    @discardableResult
    public static func after(
        _ delay: Duration,
        on group: (any EventLoopGroup)? = nil,
        _ fire: @escaping @Sendable () -> Void
    ) -> LoopTimer {
        let loop = (group ?? MultiThreadedEventLoopGroup.singleton).any()
        return LoopTimer(scheduled: try? loop.scheduleCallback(in: .nanoseconds(delay.nanoseconds), handler: Fire(fire: fire)))
    }

    /// Calls `fire` once `instant` has passed (at once, on the loop, when it already has).
    @discardableResult
    public static func at(
        _ instant: ContinuousClock.Instant,
        on group: (any EventLoopGroup)? = nil,
        _ fire: @escaping @Sendable () -> Void
    ) -> LoopTimer {
        after(max(.zero, instant - .now), on: group, fire)
    }

    /// Stops the timer; no effect once it fired.
    public func cancel() {
        scheduled?.cancel()
    }
}

extension Duration {
    /// The duration in whole nanoseconds (for NIO's `TimeAmount` and metrics), saturating at
    /// `Int64.min` and `Int64.max` (about 292 years).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? (seconds < 0 ? .min : .max) : total
    }

    /// The duration in whole milliseconds, saturating like ``nanoseconds``.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
}

extension LoopTimer {
    /// Suspends for `delay` on an event loop's timer heap (not Dispatch's); throws
    /// `CancellationError` as soon as the task is cancelled.
    public static func sleep(for delay: Duration, on group: (any EventLoopGroup)? = nil) async throws {
        let done = Promise<Void>()
        let timer = after(delay, on: group) { done.fulfill(()) }
        defer { timer.cancel() }
        guard await done.wait() != nil else { throw CancellationError() }
    }
}
