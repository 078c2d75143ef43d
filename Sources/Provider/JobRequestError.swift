/// Why a request cannot be served as it is; the message is for the customer.
public struct JobRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The metric and journal reason (`invalid_request`, `undecryptable`, `unsupported_input`).
    public let reason: String
    public let message: String
    public var description: String { message }

    init(_ reason: String, _ message: String) {
        self.reason = reason
        self.message = message
    }
}
