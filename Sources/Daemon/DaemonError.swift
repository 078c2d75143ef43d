/// The Daemon module's error: a stable ``Code`` for tests and metrics, and a message that says what
/// failed, why, and what to do. Messages never contain secrets.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let identityExists = Code("identity_exists")
        public static let identityMissing = Code("identity_missing")
        public static let identityInvalid = Code("identity_invalid")
        public static let fileSystem = Code("file_system")
        public static let config = Code("config")
        public static let alreadyRunning = Code("already_running")
        public static let notRunning = Code("not_running")
        public static let startFailed = Code("start_failed")
        public static let addressInUse = Code("address_in_use")
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
