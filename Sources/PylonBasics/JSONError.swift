/// Text that is not one valid JSON document: where (the byte offset) and what is wrong.
public typealias JSONError = PylonError<JSONErrorCode>

public enum JSONErrorCode: String, PylonErrorCode {
    /// Not JSON: a syntax error, invalid UTF-8, a lone surrogate, a number out of range, nesting
    /// beyond the limit, a duplicate key or text after the value.
    case invalid = "invalid_json"
}
