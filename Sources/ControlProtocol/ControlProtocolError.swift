public import PylonBasics

/// An error reading or writing a control-socket message.
///
/// The `message` is one sentence a user can act on; the control server sends it back as
/// `{"Error": message}`.
public typealias ControlProtocolError = PylonError<ControlProtocolErrorCode>

public enum ControlProtocolErrorCode: String, PylonErrorCode {
        /// The bytes are not one valid JSON value.
        case invalidJSON = "invalid_json"
        /// Valid JSON that is not a known request or response shape.
        case invalidMessage = "invalid_message"
        /// A request or response name that this version does not know.
        case unknownMessage = "unknown_message"
        /// A line longer than the limit.
        case tooLarge = "too_large"
    }
