public import PylonBasics

/// The Daemon module's error: ``DaemonErrorCode`` for tests and metrics, and a message that says
/// what failed, why, and what to do. Messages never contain secrets.
public typealias DaemonError = PylonError<DaemonErrorCode>

/// The identity's files; the home folder and the config; the daemon's process and its socket.
public enum DaemonErrorCode: String, PylonErrorCode {
    case identityExists = "identity_exists", identityMissing = "identity_missing", identityInvalid = "identity_invalid"
    case fileSystem = "file_system", config
    case alreadyRunning = "already_running", notRunning = "not_running", startFailed = "start_failed", addressInUse = "address_in_use"
    /// systemctl or launchctl refused or failed (`pylon service`).
    case serviceManager = "service_manager"
}
