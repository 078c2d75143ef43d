public import PylonBasics

/// Why the control server could not start or serve.
public typealias ControlServerError = PylonError<ControlServerErrorCode>

/// `address_in_use`: a live daemon already answers on the socket. `not_a_socket`: the path exists
/// and is not a socket (pylon will not delete someone's file). `path_too_long`: longer than a Unix
/// socket address holds. `bind_failed`: any other failure to create, bind or listen.
/// `invalid_state`: `run()` or `bind()` called in the wrong state.
public enum ControlServerErrorCode: String, PylonErrorCode {
    case addressInUse = "address_in_use", notASocket = "not_a_socket", pathTooLong = "path_too_long"
    case bindFailed = "bind_failed", invalidState = "invalid_state"
}
