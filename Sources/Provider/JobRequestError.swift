public import PylonBasics

/// Why a request cannot be served as it is: the rejection reason it is counted and journaled
/// under (`invalid_request`, `undecryptable`, `unsupported_input`), and a message for the customer.
public typealias JobRequestError = PylonError<RejectionReason>
