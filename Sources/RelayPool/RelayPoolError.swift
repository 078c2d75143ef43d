public import PylonBasics

/// The RelayPool module's error: ``RelayPoolErrorCode`` and a message for people.
public typealias RelayPoolError = PylonError<RelayPoolErrorCode>

/// A relay URL that is not `ws://` or `wss://`; an event or filter over the pool's limits; a
/// publish the relays refused, or that found no relay, no answer in time, or a pool shutting down.
public enum RelayPoolErrorCode: String, PylonErrorCode {
    case invalidURL = "invalid_url"
    case tooLarge = "too_large", tooManyTags = "too_many_tags", tooManySubscriptions = "too_many_subscriptions", queueFull = "queue_full"
    case rejected, timedOut = "timed_out", notConnected = "not_connected", shutdown
}
