/// The one error type of PylonStore: a small stable ``Code`` that tests and metrics match on, a
/// message for people (what failed, why, what to do), and the underlying error when there is one.
///
/// A mutation that throws has changed nothing: neither its state nor the journal.
public struct PylonStoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Codes never change meaning once shipped.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No job, invoice, agent or buyer job with that key.
        public static let notFound = Code("not_found")
        /// The change is not allowed from the record's current state (completing a job that is not
        /// running, settling an invoice twice, ...).
        public static let invalidTransition = Code("invalid_transition")
        /// The key already exists: a request seen before, a payment hash recorded before, an agent
        /// name or public key in use.
        public static let duplicate = Code("duplicate")
        /// An argument out of range or of the wrong form (negative amount, empty model, a journal
        /// kind that only the store writes, ...).
        public static let invalidArgument = Code("invalid_argument")
        /// A row or journal entry that does not decode: the file was changed by something else.
        public static let corruptData = Code("corrupt_data")
        /// The database was written by a newer pylon whose migrations this one does not know.
        public static let incompatibleSchema = Code("incompatible_schema")
        /// The database file or its folder could not be created, opened or protected.
        public static let fileSystem = Code("file_system")
        /// SQLite failed (disk full, I/O error, busy beyond the timeout, ...).
        public static let database = Code("database")
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
