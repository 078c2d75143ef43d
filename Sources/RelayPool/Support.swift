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
