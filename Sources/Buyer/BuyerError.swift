public import PylonBasics

/// A request that cannot be made as asked, or that no relay took.
public typealias BuyerError = PylonError<BuyerErrorCode>

public enum BuyerErrorCode: String, PylonErrorCode {
    /// The order cannot become a request (not a job kind, no prompt, nothing to encrypt to).
    case invalidOrder = "invalid_order"
    /// No relay could be reached.
    case noRelay = "no_relay"
    /// The relays were reached and none accepted the request.
    case notAccepted = "not_accepted"
    /// A provider's invoice that pylon will not pay: over the limit or the bid, not the amount
    /// asked, expired, or another invoice for a job already being paid.
    case paymentRefused = "payment_refused"
    /// The wallet could not pay.
    case paymentFailed = "payment_failed"
}
