public import PylonBasics

/// The Daemon module's error: ``DaemonErrorCode`` for tests and metrics, and a message that says
/// what failed, why, and what to do. Messages never contain secrets.
public typealias DaemonError = PylonError<DaemonErrorCode>

public enum DaemonErrorCode: String, PylonErrorCode {
    case identityExists = "identity_exists"
    case identityMissing = "identity_missing"
    case identityInvalid = "identity_invalid"
    case fileSystem = "file_system"
    case config
    case alreadyRunning = "already_running"
    case notRunning = "not_running"
    case startFailed = "start_failed"
    case addressInUse = "address_in_use"
}
