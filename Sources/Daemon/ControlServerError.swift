public import PylonBasics

/// Why the control server could not start or serve.
public typealias ControlServerError = PylonError<ControlServerErrorCode>

public enum ControlServerErrorCode: String, PylonErrorCode {
        /// A live daemon already answers on the socket.
        case addressInUse = "address_in_use"
        /// The path exists and is not a socket: pylon will not delete someone's file.
        case notASocket = "not_a_socket"
        /// Longer than a Unix socket address holds.
        case pathTooLong = "path_too_long"
        /// Any other failure to create, bind or listen.
        case bindFailed = "bind_failed"
        /// `run()` or `bind()` called in the wrong state.
        case invalidState = "invalid_state"
    }
