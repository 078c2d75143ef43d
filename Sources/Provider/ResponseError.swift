public import PylonBasics

/// Why a response could not be made.
public typealias ResponseError = PylonError<ResponseErrorCode>

public enum ResponseErrorCode: String, PylonErrorCode {
    /// Larger than relays accept, even after trimming.
    case tooLarge = "too_large"
    /// The request was encrypted and the answer could not be.
    case encryptionFailed = "encryption_failed"
}
