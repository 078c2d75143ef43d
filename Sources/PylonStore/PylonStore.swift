/// PylonStore: pylon.db, the node's durable state (SPEC §2, §7).
///
/// Owns the SQL: the schema and its migrations (``Schema``), the records (`jobs`, `earnings`,
/// `invoices`, `processed_requests`, `agents`, `tick_history`, `buyer_jobs`) and the journal. It
/// may import only NostrCore and GRDB. The rest of pylon sees typed values and ``PylonStoreError``.
///
/// Every mutation is one named write transaction that keeps an invariant and appends the journal
/// entries that record it, so the journal is written atomically with the state it describes and
/// the jobs and earnings can be rebuilt from it alone (``JournalReplay``).

public import Foundation
import GRDB
import NostrCore
public import PylonBasics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's database: one SQLite file in WAL mode, opened once by the daemon and shared by its
/// services. Writes are serialized by SQLite's single writer; reads run concurrently from a pool
/// of connections and never wait for writes.
///
/// All methods are synchronous and short (about 0.1-0.2 ms each on the job path in a release
/// build); call them from any thread or task, never from inside another store call.
public final class PylonStore: Sendable {
    /// The database file, or nil for an in-memory store.
    public let path: String?
    let writer: any DatabaseWriter
    let clock: @Sendable () -> Date
    let signals = JournalSignals()

    init(writer: any DatabaseWriter, path: String?, clock: @escaping @Sendable () -> Date) {
        self.writer = writer
        self.path = path
        self.clock = clock
    }

    deinit {
        signals.finish()
    }

    /// Opens (creating if needed) the database at `path`: mode 0600, WAL, `synchronous = NORMAL`,
    /// foreign keys on, a 5 s busy timeout, and every migration applied.
    ///
    /// A missing parent folder is created with mode 0700. `clock` stamps journal entries and rows.
    public static func open(
        path: String, busyTimeout: TimeInterval = 5, clock: @escaping @Sendable () -> Date = { Date() }
    ) throws(PylonStoreError) -> PylonStore {
        try prepareFile(path)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration(busyTimeout: busyTimeout))
        } catch {
            throw PylonStoreError(.database, "cannot open the database \(path): \(describe(error))", cause: error)
        }
        let store = PylonStore(writer: pool, path: path, clock: clock)
        try store.migrate()
        // The WAL and shared-memory files take the database file's mode; make sure of it for files
        // left by an older run with a looser umask.
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            _ = chmod(path + suffix, 0o600)
        }
        return store
    }

    /// A store in memory, with the production schema and configuration except WAL (which needs a
    /// file): for tests of other modules that need a store and no file.
    public static func inMemory(clock: @escaping @Sendable () -> Date = { Date() }) throws(PylonStoreError) -> PylonStore {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration(busyTimeout: 5))
        } catch {
            throw PylonStoreError(.database, "cannot create an in-memory database: \(describe(error))", cause: error)
        }
        let store = PylonStore(writer: queue, path: nil, clock: clock)
        try store.migrate()
        return store
    }

    static func configuration(busyTimeout: TimeInterval) -> Configuration {
        var config = Configuration()
        config.label = "pylon.db"
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(busyTimeout)
        config.prepareDatabase { db in
            // Also set by GRDB for WAL; said here because durability is decided here: in WAL a
            // commit survives a crash of the process, and a power loss may lose the last commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return config
    }

    /// Creates the file with mode 0600 before SQLite sees it, and tightens an existing one.
    static func prepareFile(_ path: String) throws(PylonStoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw PylonStoreError(
                    .fileSystem, "cannot create the folder \(directory) for the database: \(error.localizedDescription)",
                    cause: error)
            }
        }
        if let reason = createPrivateFile(path) {
            throw PylonStoreError(.fileSystem, "cannot create the database \(path) with mode 0600: \(reason); check the folder's permissions")
        }
    }

    func migrate() throws(PylonStoreError) {
        let migrator = Schema.migrator
        do {
            if try writer.read({ db in try migrator.hasBeenSuperseded(db) }) {
                throw PylonStoreError(
                    .incompatibleSchema,
                    "the database \(path ?? ":memory:") was written by a newer pylon; upgrade pylon or use another --home")
            }
            try migrator.migrate(writer)
        } catch let error as PylonStoreError {
            throw error
        } catch {
            throw PylonStoreError(.database, "cannot migrate the database \(path ?? ":memory:"): \(Self.describe(error))", cause: error)
        }
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() throws(PylonStoreError) -> [String] {
        try read("read the migrations") { db in try Schema.migrator.appliedMigrations(db) }
    }

    /// Checkpoints the WAL into the database file and closes every connection; further calls
    /// fail. Followers of the journal end. Optional: dropping the store does the same.
    public func close() throws(PylonStoreError) {
        signals.finish()
        do {
            if let pool = writer as? DatabasePool {
                _ = try? pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                try pool.close()
            } else if let queue = writer as? DatabaseQueue {
                try queue.close()
            }
        } catch {
            throw PylonStoreError(.database, "cannot close the database: \(Self.describe(error))", cause: error)
        }
    }

    // MARK: - Transactions

    /// One write transaction named `operation` (for error messages): runs `body`, which changes
    /// state and appends journal entries through the context, then commits. A throw rolls back
    /// everything. Followers are told about new entries after the commit.
    func write<T>(_ operation: String, _ body: (WriteContext) throws -> T) throws(PylonStoreError) -> T {
        var lastSeq: Int64?
        let value: T
        do {
            value = try writer.writeWithoutTransaction { db in
                // BEGIN and COMMIT as cached statements: GRDB's transaction helper prepares
                // (parses) both again for every transaction.
                try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
                do {
                    let context = WriteContext(db: db, now: RFC3339.rounded(clock()))
                    let value = try body(context)
                    try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                    lastSeq = context.lastSeq
                    return value
                } catch {
                    if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
                    throw error
                }
            }
        } catch {
            throw Self.wrap(error, operation)
        }
        if let lastSeq { signals.publish(lastSeq) }
        return value
    }

    /// One read. Single-statement reads skip the transaction GRDB would otherwise open.
    func read<T>(_ operation: String, isolated: Bool = false, _ body: (Database) throws -> T) throws(PylonStoreError) -> T {
        do {
            return isolated ? try writer.read(body) : try writer.unsafeRead(body)
        } catch {
            throw Self.wrap(error, operation)
        }
    }

    static func wrap(_ error: any Error, _ operation: String) -> PylonStoreError {
        if let error = error as? PylonStoreError { return error }
        if let error = error as? DatabaseError {
            switch error.extendedResultCode {
            case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
                return PylonStoreError(.duplicate, "cannot \(operation): \(error.message ?? "already recorded")", cause: error)
            case .SQLITE_CONSTRAINT_CHECK, .SQLITE_CONSTRAINT_NOTNULL, .SQLITE_CONSTRAINT_FOREIGNKEY, .SQLITE_CONSTRAINT_TRIGGER:
                return PylonStoreError(
                    .invalidArgument, "cannot \(operation): the database refused it (\(error.message ?? "constraint failed"))",
                    cause: error)
            default:
                break
            }
        }
        if error is RowDecodingError {
            return PylonStoreError(.corruptData, "cannot \(operation): a row does not decode (\(error))", cause: error)
        }
        return PylonStoreError(.database, "cannot \(operation): \(describe(error))", cause: error)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "SQLite error \(error.resultCode.rawValue)"
        }
        return String(describing: error)
    }
}

/// Creates `path` if missing and sets its mode to 0600; returns the reason on failure. Outside the
/// class, whose `open` and `close` would shadow the system calls.
private func createPrivateFile(_ path: String) -> String? {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return String(cString: strerror(errno)) }
    defer { close(fd) }
    guard fchmod(fd, 0o600) == 0 else { return String(cString: strerror(errno)) }
    return nil
}

/// What a write transaction's body works with: the connection, the transaction's one time, and
/// the journal. Lives only inside ``PylonStore/write(_:_:)``.
final class WriteContext {
    let db: Database
    let now: Date
    let nowText: String
    private(set) var lastSeq: Int64?

    init(db: Database, now: Date) {
        self.db = db
        self.now = now
        self.nowText = RFC3339.string(from: now)
    }

    /// Appends one journal entry stamped with the transaction's time and returns it. `text`, when
    /// given, is `data` already serialized.
    func journal(_ kind: JournalKind, _ data: JSON, text: String? = nil) throws -> JournalRecord {
        let statement = try db.cachedStatement(sql: "INSERT INTO journal (time, kind, data) VALUES (?, ?, ?)")
        try statement.execute(arguments: [nowText, kind.rawValue, text ?? data.serialized])
        let seq = db.lastInsertedRowID
        lastSeq = seq
        return JournalRecord(seq: seq, time: now, kind: kind, data: data)
    }

    /// Runs one cached statement.
    func execute(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

/// The subscribers to "the journal grew", fed by the store's own commits.
final class JournalSignals: Sendable {
    /// Guards the subscriber table; continuations are called outside it, since finishing one runs
    /// its termination handler, which takes the lock again.
    private let subscribers = Mutex(Registrations<AsyncStream<Int64>.Continuation>())

    /// A stream of the journal's last `seq` after each commit that appended entries; only the
    /// newest value is buffered, so a slow reader loses nothing but intermediate wake-ups.
    func subscribe() -> AsyncStream<Int64> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int64.self, bufferingPolicy: .bufferingNewest(1))
        guard let id = subscribers.withLock({ $0.add(continuation) }) else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.remove(id) }
        }
        return stream
    }

    var subscriberCount: Int { subscribers.withLock { $0.count } }

    func publish(_ seq: Int64) {
        for continuation in subscribers.withLock({ $0.all }) { continuation.yield(seq) }
    }

    func finish() {
        for continuation in subscribers.withLock({ $0.close() }) { continuation.finish() }
    }
}
