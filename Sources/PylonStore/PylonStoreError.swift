public import PylonBasics

/// The one error type of PylonStore: ``PylonStoreErrorCode``, a message for people (what failed,
/// why, what to do), and the underlying error when there is one.
///
/// A mutation that throws has changed nothing: neither its state nor the journal.
public typealias PylonStoreError = PylonError<PylonStoreErrorCode>

/// What kind of failure a ``PylonStoreError`` is. Codes never change meaning once shipped.
public enum PylonStoreErrorCode: String, PylonErrorCode {
    /// No job, invoice, agent or buyer job with that key.
    case notFound = "not_found"
    /// The change is not allowed from the record's current state (completing a job that is not
    /// running, settling an invoice twice, ...).
    case invalidTransition = "invalid_transition"
    /// The key already exists: a request seen before, a payment hash recorded before, an agent
    /// name or public key in use.
    case duplicate
    /// An argument out of range or of the wrong form (negative amount, empty model, a journal
    /// kind that only the store writes, ...).
    case invalidArgument = "invalid_argument"
    /// A row or journal entry that does not decode: the file was changed by something else.
    case corruptData = "corrupt_data"
    /// The database was written by a newer pylon whose migrations this one does not know.
    case incompatibleSchema = "incompatible_schema"
    /// The database file or its folder could not be created, opened or protected.
    case fileSystem = "file_system"
    /// SQLite failed (disk full, I/O error, busy beyond the timeout, ...).
    case database
}
