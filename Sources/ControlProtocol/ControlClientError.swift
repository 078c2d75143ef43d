public import PylonBasics

/// Why a control-socket call failed: ``ControlClientErrorCode`` and one sentence (what failed, why,
/// what to do).
public typealias ControlClientError = PylonError<ControlClientErrorCode>

public enum ControlClientErrorCode: String, PylonErrorCode {
    /// Nothing listens on the socket (no file, or a stale one): the daemon is not running.
    case notRunning = "not_running"
    /// The daemon did not answer within the timeout.
    case timeout
    /// The daemon closed the connection before answering.
    case connectionClosed = "connection_closed"
    /// The daemon's answer is not a valid response line.
    case protocolError = "protocol_error"
    /// The socket exists but this user may not connect to it.
    case permissionDenied = "permission_denied"
    /// The daemon answered `{"Error": ...}` (from the convenience calls that expect a result).
    case daemonError = "daemon_error"
    /// Any other socket failure.
    case io
}
