/// An inference backend failed: the one error type of the Backends module.
///
/// `code` is small and stable: tests match it and metrics count it (`outcome` label). `message` is
/// one sentence for the operator (logs, `pylon infer`, `pylon doctor`): what failed, why, and what to
/// do. It never carries an API key. A customer (NIP-90 `error` feedback) should get
/// ``publicReason`` instead, which names no host, port or path.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The server could not be reached: connection refused, DNS failure, connection reset.
        case unreachable = "unreachable"
        /// The requested model is not served by any ready backend, or the server does not know it.
        case modelNotFound = "model_not_found"
        /// A timeout fired: connect, first token, idle between tokens, or the request's deadline.
        case timeout = "timeout"
        /// The server answered something that is not the protocol: bad JSON, a truncated stream,
        /// an over-long line, an error object in the stream.
        case badResponse = "bad_response"
        /// The server answered with an HTTP error status (4xx, 5xx).
        case httpStatus = "http_status"
        /// The backend cannot serve at all: not on this platform, not configured, not ready, or
        /// no backend is ready.
        case unavailable = "unavailable"
        /// The caller cancelled the request.
        case cancelled = "cancelled"
    }

    /// The kind of failure.
    public var code: Code
    /// One sentence for the operator: what failed, why, what to do.
    public var message: String
    /// The backend that failed (`ollama`, `llamacpp`, `openai`, `apple_fm`), if any.
    public var backend: String?
    /// The HTTP status the server answered, for `httpStatus` (and `modelNotFound` from a server).
    public var httpStatus: Int?
    /// The underlying error, for debugging. Not shown to customers.
    public var cause: (any Error)?

    public init(
        _ code: Code,
        _ message: String,
        backend: String? = nil,
        httpStatus: Int? = nil,
        cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.backend = backend
        self.httpStatus = httpStatus
        self.cause = cause
    }

    public var description: String { message }

    /// A sentence safe to show a customer: no URL, no server text, no internals.
    public var publicReason: String {
        switch code {
        case .unreachable, .unavailable: "the inference backend is not available right now"
        case .modelNotFound: "the requested model is not available on this provider"
        case .timeout: "the inference backend timed out"
        case .badResponse: "the inference backend answered with an invalid response"
        case .httpStatus: "the inference backend reported an error"
        case .cancelled: "the job was cancelled"
        }
    }
}
