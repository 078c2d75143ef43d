import Synchronization

/// A value that is set once and awaited by any number of tasks, with a timeout.
public final class Promise<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [Int: CheckedContinuation<Value?, Never>] = [:]
        var nextToken = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Sets the value (the first call wins) and wakes every waiter.
    @discardableResult
    public func fulfill(_ value: Value) -> Bool {
        let waiters: [CheckedContinuation<Value?, Never>]? = state.withLock { state in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }

    public var current: Value? { state.withLock { $0.value } }

    /// Waits for the value; nil when the task is cancelled first.
    public func wait() async -> Value? {
        let token = state.withLock { state -> Int in
            state.nextToken += 1
            return state.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let resumeNow: Value?? = state.withLock { state in
                    if let value = state.value { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[token] = continuation
                    return .none
                }
                if case .some(let value) = resumeNow { continuation.resume(returning: value) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
            waiter?.resume(returning: nil)
        }
    }

    /// Waits up to `timeout`; nil on timeout or cancellation.
    public func wait(timeout: Duration) async -> Value? {
        if let value = current { return value }
        return await withTaskGroup(of: Value?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// A set of recently seen ids with bounded memory: two generations, the older dropped when the
/// newer fills half the capacity. Membership is exact for at least `capacity / 2` most recent ids.
struct BoundedIDSet<ID: Hashable> {
    private var current: Set<ID> = []
    private var previous: Set<ID> = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
    }

    func contains(_ id: ID) -> Bool { current.contains(id) || previous.contains(id) }

    /// Inserts; false when the id was already present.
    mutating func insert(_ id: ID) -> Bool {
        guard !contains(id) else { return false }
        if current.count >= capacity / 2 {
            previous = current
            current = []
            current.reserveCapacity(capacity / 2)
        }
        current.insert(id)
        return true
    }

    var count: Int { current.count + previous.count }
}

/// Exponential backoff with full jitter, reset after a connection stays up long enough.
struct Backoff: Sendable {
    let initial: Duration
    let maximum: Duration
    private(set) var attempt = 0

    init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The next delay: `initial * 2^attempt` capped at `maximum`, scaled by a random 50-100 %.
    mutating func next() -> Duration {
        let base = initial * Int(1 << min(attempt, 20))
        attempt += 1
        let capped = min(base, maximum)
        return capped * Double.random(in: 0.5...1.0)
    }

    mutating func reset() { attempt = 0 }
}
