public import NostrCore

/// Requests per customer per minute: a token bucket per public key that refills continuously.
/// A customer over the limit is told once per window when to try again: the first refused request
/// gets an answer, the rest of the window's are dropped quietly, so a flood is not amplified into
/// as many answers. Memory is bounded: when it tracks too many customers, those idle for a minute
/// are forgotten.
public struct CustomerRateLimiter: Sendable {
    public enum Decision: Sendable, Equatable {
        case allowed
        /// Over the limit until `retryAfter` has passed. `tell` is true for the first refusal of
        /// that window only.
        case limited(retryAfter: Duration, tell: Bool)
    }

    private struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
        /// Refusals before this instant have been answered already.
        var toldUntil: ContinuousClock.Instant?
    }

    public var perMinute: Int
    private var buckets: [PublicKey: Bucket] = [:]
    private let capacity: Int

    public init(perMinute: Int, capacity: Int = 10_000) {
        self.perMinute = perMinute
        self.capacity = capacity
    }

    /// Takes one request's token, or says how long until the customer has one again.
    public mutating func check(_ customer: PublicKey, now: ContinuousClock.Instant = .now) -> Decision {
        guard perMinute > 0 else { return .allowed }
        let limit = Double(perMinute)
        var bucket = buckets[customer] ?? Bucket(tokens: limit, at: now)
        let elapsed = bucket.at.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(limit, bucket.tokens + seconds * limit / 60)
        bucket.at = now
        defer {
            buckets[customer] = bucket
            if buckets.count > capacity { prune(now: now) }
        }
        guard bucket.tokens >= 1 else {
            let retryAfter = Duration.seconds((1 - bucket.tokens) * 60 / limit)
            let tell = bucket.toldUntil.map { now >= $0 } ?? true
            if tell { bucket.toldUntil = now + retryAfter }
            return .limited(retryAfter: retryAfter, tell: tell)
        }
        bucket.tokens -= 1
        return .allowed
    }

    private mutating func prune(now: ContinuousClock.Instant) {
        let minute = Duration.seconds(60)
        buckets = buckets.filter { $0.value.at.duration(to: now) < minute }
    }
}
