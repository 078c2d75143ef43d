public import Synchronization

/// A value that is set once and awaited by any number of tasks, with or without a timeout.
///
/// The first ``fulfill(_:)`` wins, so a promise also settles races: give the work, a
/// ``LoopTimer`` and a cancellation hook the same promise and await the first of them.
///
/// Everything is `@inlinable` so that callers in other modules get it specialized for their value
/// type: unspecialized, each call looked up the generic metadata of its state at run time.
public final class Promise<Value: Sendable>: Sendable {
    @usableFromInline let state = Mutex(PromiseState())

    @inlinable public init() {}

    /// Sets the value (the first call wins) and wakes every waiter. False when it was set already.
    @inlinable @discardableResult
    public func fulfill(_ value: Value) -> Bool {
        let woken: (waiters: [CheckedContinuation<Void, Never>], callbacks: [@Sendable (any Sendable) -> Void])? = state.withLock { state in
            guard state.value == nil else { return nil }
            state.value = value
            defer {
                state.waits = [:]
                state.callbacks = []
            }
            return (state.waits.values.compactMap { if case .suspended(let continuation) = $0 { continuation } else { nil } }, state.callbacks)
        }
        guard let woken else { return false }
        for waiter in woken.waiters { waiter.resume() }
        for callback in woken.callbacks { callback(value) }
        return true
    }

    /// Calls `body` with the value once it is set: at once (here) if it is, otherwise in the
    /// ``fulfill(_:)`` that sets it. For a caller that must not wait, or start a task to wait.
    @inlinable public func whenFulfilled(_ body: @escaping @Sendable (Value) -> Void) {
        let now: (any Sendable)? = state.withLock { state in
            if let value = state.value { return value }
            state.callbacks.append { value in
                // Only fulfill stores a value, always a Value.
                if let value = value as? Value { body(value) }
            }
            return nil
        }
        if let now, let value = now as? Value { body(value) }
    }

    /// Only ``fulfill(_:)`` stores a value, always a `Value`. (Unwrapped before the cast: for an
    /// optional `Value`, casting "no value" would give a value, `nil`.)
    @inlinable public var current: Value? {
        guard let value = state.withLock({ $0.value }) else { return nil }
        return value as? Value
    }

    /// How many tasks wait for the value now (for snapshots and tests that must know a waiter is
    /// in place before they act).
    @inlinable public var waiterCount: Int {
        state.withLock { $0.waits.count }
    }

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

    /// Suspends until the value is set or the wait is released, then reads the value: nil when
    /// released first (a value set in between is returned all the same).
    @inlinable func wait(token: Int) async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let suspended = state.withLock { state in
                    if state.value != nil { return false }
                    if Task.isCancelled { state.waits[token] = nil }
                    guard case .starting = state.waits[token] else {
                        state.waits[token] = nil
                        return false
                    }
                    state.waits[token] = .suspended(continuation)
                    return true
                }
                if !suspended { continuation.resume() }
            }
        } onCancel: {
            release(token)
        }
        return current
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
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
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
        waiter?.resume()
    }
}

/// One wait, from the moment it takes a token until it returns.
@usableFromInline
enum PromiseWait {
    /// Not suspended yet.
    case starting
    case suspended(CheckedContinuation<Void, Never>)
    /// Ended (timeout or cancellation) before it suspended.
    case released
}

/// A ``Promise``'s state, outside the generic class so that it is not generic: the value is held
/// as `any Sendable` and read back as the promise's `Value`. Creating and destroying a promise and
/// its waits then look up no generic metadata at run time (a class's deinit is never
/// specialized; with a state nested in `Promise<Value>` every promise cost about ten lookups).
@usableFromInline
struct PromiseState {
    @usableFromInline var value: (any Sendable)?
    @usableFromInline var waits: [Int: PromiseWait] = [:]
    @usableFromInline var callbacks: [@Sendable (any Sendable) -> Void] = []
    @usableFromInline var nextToken = 0

    @inlinable init() {}

    @inlinable
    mutating func start() -> Int {
        nextToken += 1
        waits[nextToken] = .starting
        return nextToken
    }
}
