public import PylonBasics

/// The RelayPool module's error: ``RelayPoolErrorCode`` and a message for people.
public typealias RelayPoolError = PylonError<RelayPoolErrorCode>

public enum RelayPoolErrorCode: String, PylonErrorCode {
    case invalidURL = "invalid_url"
    case tooLarge = "too_large"
    case tooManyTags = "too_many_tags"
    case tooManySubscriptions = "too_many_subscriptions"
    case queueFull = "queue_full"
    case rejected
    case timedOut = "timed_out"
    case notConnected = "not_connected"
    case shutdown
}
