public import NostrCore
import Synchronization

/// What a subscription yields: verified, deduplicated events and per-relay progress.
public enum SubscriptionEvent: Sendable {
    /// A verified event, delivered once per subscription however many relays send it.
    case event(Event, relay: RelayURL)
    /// The relay has sent everything it had stored for this subscription (NIP-01 EOSE).
    case endOfStoredEvents(relay: RelayURL)
    /// The relay refused or ended the subscription (a reason other than `auth-required:`, which
    /// the pool handles by authenticating and asking again).
    case closed(relay: RelayURL, reason: String)
}

/// A live subscription on every connected relay. Iterate ``events``; call ``close()`` or let the
/// iteration end to send CLOSE.
public struct PoolSubscription: Sendable {
    public let id: SubscriptionID
    public let events: AsyncStream<SubscriptionEvent>
    let pool: RelayPool

    /// Stops the subscription on every relay.
    public func close() {
        pool.unsubscribe(id)
    }
}

/// The pool's record of one subscription, shared by every relay connection's read loop.
final class SubscriptionRecord: Sendable {
    let id: SubscriptionID
    let filters: [Filter]
    /// Only these relays (nil = every relay of the pool).
    let relays: Set<RelayURL>?
    let continuation: AsyncStream<SubscriptionEvent>.Continuation

    private struct State {
        var delivered: BoundedIDSet<EventID>
        /// Newest `created_at` delivered from each relay, to resubscribe with `since` after a
        /// reconnect without missing what that relay received meanwhile.
        var newest: [RelayURL: Int64] = [:]
        var finishedRelays: Set<RelayURL> = []
    }

    private let state: Mutex<State>

    init(id: SubscriptionID, filters: [Filter], relays: Set<RelayURL>?, dedupeCapacity: Int, continuation: AsyncStream<SubscriptionEvent>.Continuation) {
        self.id = id
        self.filters = filters
        self.relays = relays
        self.continuation = continuation
        state = Mutex(State(delivered: BoundedIDSet(capacity: dedupeCapacity)))
    }

    func includes(_ relay: RelayURL) -> Bool { relays?.contains(relay) ?? true }

    func alreadyDelivered(_ id: EventID) -> Bool { state.withLock { $0.delivered.contains(id) } }

    /// Records delivery; false when another relay delivered it first.
    func markDelivered(_ event: Event, from relay: RelayURL) -> Bool {
        state.withLock { state in
            state.newest[relay] = max(state.newest[relay] ?? 0, event.createdAt)
            return state.delivered.insert(event.id)
        }
    }

    func markEndOfStoredEvents(_ relay: RelayURL) -> Bool {
        state.withLock { $0.finishedRelays.insert(relay).inserted }
    }

    /// The filters to send to `relay` now: after a reconnect, `since` moves to a little before the
    /// newest event that relay already gave us.
    func filters(resumingOn relay: RelayURL, margin: Int64) -> [Filter] {
        guard let newest = state.withLock({ $0.newest[relay] }) else { return filters }
        return filters.map { filter in
            var f = filter
            f.since = max(filter.since ?? 0, newest - margin)
            return f
        }
    }

    func resetEndOfStoredEvents(_ relay: RelayURL) {
        _ = state.withLock { $0.finishedRelays.remove(relay) }
    }
}
