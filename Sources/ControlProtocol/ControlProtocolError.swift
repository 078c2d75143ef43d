public import PylonBasics

/// An error reading or writing a control-socket message.
///
/// The `message` is one sentence a user can act on; the control server sends it back as
/// `{"Error": message}`.
public typealias ControlProtocolError = PylonError<ControlProtocolErrorCode>

/// `invalid_json`: the bytes are not one valid JSON value. `invalid_message`: valid JSON that is
/// not a known request or response shape. `unknown_message`: a request or response name that this
/// version does not know. `too_large`: a line longer than the limit.
public enum ControlProtocolErrorCode: String, PylonErrorCode {
    case invalidJSON = "invalid_json", invalidMessage = "invalid_message", unknownMessage = "unknown_message"
    case tooLarge = "too_large"
}
