public import NostrCore
public import PylonBasics

/// The Payments module's error: what the wallet answered (one code per NIP-47 error code) or
/// why it could not answer, with a sentence a user understands. Never the connection secret.
public typealias PaymentsError = PylonError<PaymentsErrorCode>

public enum PaymentsErrorCode: String, PylonErrorCode, CaseIterable {
    // The wallet's NIP-47 error codes.
    case rateLimited = "rate_limited", notImplemented = "not_implemented", insufficientBalance = "insufficient_balance"
    case quotaExceeded = "quota_exceeded", restricted, unauthorized, `internal`, unsupportedEncryption = "unsupported_encryption"
    case paymentFailed = "payment_failed", notFound = "not_found", other
    // Failures around the wallet: no answer in time, no relay, an answer pylon cannot use, a
    // method the wallet does not list, a client that has stopped.
    case timedOut = "timed_out", unreachable, invalidResponse = "invalid_response", unsupportedMethod = "unsupported_method"
    case shutdown

    /// The code for a NIP-47 error code: the same name in lower case (`RATE_LIMITED` → `rate_limited`).
    public init(_ code: WalletErrorCode) {
        self = PaymentsErrorCode(rawValue: code.rawValue.lowercased()) ?? .other
    }
}

extension PaymentsError {
    /// The wallet's answer as an error of this module.
    init(_ error: WalletError, method: WalletMethod) {
        self.init(PaymentsErrorCode(error.code), "the wallet refused \(method.rawValue): \(error)", cause: error)
    }
}
