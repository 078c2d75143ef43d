/// The one error pattern of pylon (STYLE §4): a small stable code that tests match and metrics
/// count, a message that says what failed and why, a remedy when the user can do something about
/// it, and the underlying error when there is one.
///
/// Each module declares its codes as a `String` enum and names its error after itself, once:
///
/// ```swift
/// public enum NostrErrorCode: String, PylonErrorCode { case invalidJSON = "invalid_json", ... }
/// public typealias NostrError = PylonError<NostrErrorCode>
/// ```
///
/// and throws `NostrError(.invalidJSON, "…")`. The code's raw value is what logs, metrics and
/// tests see; codes never change meaning once shipped.
public struct PylonError<ErrorCode: PylonErrorCode>: Error, Sendable, Hashable, CustomStringConvertible {
    public typealias Code = ErrorCode

    public let code: Code
    /// What failed and why, in one sentence a user understands. Never a secret.
    public let message: String
    /// What to do about it, when there is something to do ("run `pylon init`").
    public let remedy: String?
    /// The error underneath, for logs and debugging; not part of equality.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, remedy: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.cause = cause
    }

    /// The message, then the remedy.
    public var description: String {
        guard let remedy else { return message }
        return "\(message); \(remedy)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.remedy == rhs.remedy
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(remedy)
    }
}

/// A module's error codes: a `String` enum whose raw values are the stable names (`invalid_json`).
public protocol PylonErrorCode: RawRepresentable<String>, Hashable, Sendable, CustomStringConvertible {}

extension PylonErrorCode {
    /// The stable name, so that `"\(error.code)"` reads `invalid_json` in logs and labels.
    public var description: String { rawValue }
}
