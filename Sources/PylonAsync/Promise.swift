public import Synchronization

/// A value that is set once and awaited by any number of tasks, with or without a timeout.
///
/// The first ``fulfill(_:)`` wins, so a promise also settles races: give the work, a
/// ``LoopTimer`` and a cancellation hook the same promise and await the first of them.
///
/// Everything is `@inlinable` so that callers in other modules get it specialized for their value
/// type: unspecialized, each call looked up the generic metadata of its state at run time.
public final class Promise<Value: Sendable>: Sendable {
    /// One wait, from the moment it takes a token until it returns.
    @usableFromInline
    enum Wait {
        /// Not suspended yet.
        case starting
        case suspended(CheckedContinuation<Value?, Never>)
        /// Ended (timeout or cancellation) before it suspended.
        case released
    }

    @usableFromInline
    struct State {
        @usableFromInline var value: Value?
        @usableFromInline var waits: [Int: Wait] = [:]
        @usableFromInline var nextToken = 0

        @inlinable init() {}

        @inlinable
        mutating func start() -> Int {
            nextToken += 1
            waits[nextToken] = .starting
            return nextToken
        }
    }

    @usableFromInline let state = Mutex(State())

    @inlinable public init() {}

    /// Sets the value (the first call wins) and wakes every waiter. False when it was set already.
    @inlinable @discardableResult
    public func fulfill(_ value: Value) -> Bool {
        let waiters: [CheckedContinuation<Value?, Never>]? = state.withLock { state in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waits = [:] }
            return state.waits.values.compactMap { if case .suspended(let continuation) = $0 { continuation } else { nil } }
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }

    @inlinable public var current: Value? { state.withLock { $0.value } }

    /// Waits for the value; nil when the task is cancelled first.
    @inlinable public func wait() async -> Value? {
        await wait(token: state.withLock { $0.start() })
    }

    /// Waits up to `timeout`; nil on timeout or cancellation.
    @inlinable public func wait(timeout: Duration) async -> Value? {
        if let value = current { return value }
        let token = state.withLock { $0.start() }
        let timer = LoopTimer.after(timeout) { [weak self] in self?.release(token) }
        defer { timer.cancel() }
        return await wait(token: token)
    }

    @inlinable func wait(token: Int) async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let resumeNow: Value?? = state.withLock { state in
                    if let value = state.value { return .some(value) }
                    if Task.isCancelled { state.waits[token] = nil }
                    guard case .starting = state.waits[token] else {
                        state.waits[token] = nil
                        return .some(nil)
                    }
                    state.waits[token] = .suspended(continuation)
                    return .none
                }
                if case .some(let value) = resumeNow { continuation.resume(returning: value) }
            }
        } onCancel: {
            release(token)
        }
    }

    /// Runs `work` in a child task that fulfils this promise with its result, and returns the
    /// promise's first value: the work's, or one that a timer or a callback holding the promise
    /// set first, in which case the work is cancelled. When this task is cancelled, so is the
    /// work, and its own result is returned once it ends.
    @inlinable
    public func race(_ work: @escaping @Sendable () async -> Value) async -> Value? {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { self.fulfill(await work()) }
            let first = await wait()
            group.cancelAll()
            guard let first else {
                await group.waitForAll()
                return current
            }
            return first
        }
    }

    /// Ends one wait with nil (its timeout passed or its task was cancelled); nothing once it ended.
    @inlinable func release(_ token: Int) {
        let waiter: CheckedContinuation<Value?, Never>? = state.withLock { state in
            switch state.waits[token] {
            case .starting:
                state.waits[token] = .released
                return nil
            case .suspended(let continuation):
                state.waits[token] = nil
                return continuation
            case .released, nil:
                return nil
            }
        }
        waiter?.resume(returning: nil)
    }
}
