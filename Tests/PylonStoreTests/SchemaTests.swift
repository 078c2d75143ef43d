import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Schema and file")
struct SchemaTests {
    @Test("opening creates every table with the migrations, WAL on, foreign keys on, synchronous NORMAL")
    func schema() throws {
        // Given a new home
        let fixture = try Fixture()
        // When the store opens it
        let store = fixture.store
        // Then the migration ran and the pragmas hold on the writer connection
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        let (journalMode, foreignKeys, synchronous, tables, indexes, triggers) = try raw(store) { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA foreign_keys"),
                try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")),
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")),
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            )
        }
        #expect(journalMode == "wal")
        #expect(foreignKeys == 1)
        #expect(synchronous == 1)  // NORMAL
        #expect(
            tables.isSuperset(of: [
                "journal", "processed_requests", "jobs", "earnings", "invoices", "agents", "tick_history", "buyer_jobs",
            ]))
        #expect(
            indexes.isSuperset(of: [
                "jobs_status", "earnings_received_at", "earnings_job", "invoices_job", "invoices_pending",
                "tick_history_agent", "buyer_jobs_created", "buyer_jobs_status",
            ]))
        #expect(triggers == ["journal_append_only_update", "journal_append_only_delete"])
    }

    @Test("the database file, its WAL and shared memory are mode 0600; a missing folder is made 0700")
    func fileModes() throws {
        // Given a path in a folder that does not exist yet
        let home = try TestHome()
        let path = home.file("nested/pylon.db").path(percentEncoded: false)
        // When the store opens and writes
        let store = try PylonStore.open(path: path)
        try store.append(kind: "daemon.started")
        // Then every file is private
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
        let folder = try FileManager.default.attributesOfItem(atPath: home.file("nested").path(percentEncoded: false))
        #expect((folder[.posixPermissions] as? Int) == 0o700)
    }

    @Test("an existing file with a loose mode is tightened to 0600")
    func tightensMode() throws {
        let home = try TestHome()
        let path = home.file("pylon.db").path(percentEncoded: false)
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
        _ = try PylonStore.open(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("reopening applies nothing twice and keeps the data")
    func reopen() throws {
        let fixture = try Fixture()
        try fixture.store.admit(newJob(request()))
        try fixture.store.close()
        let again = try fixture.reopen()
        #expect(try again.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        #expect(try again.jobs().count == 1)
    }

    @Test("v3 rebuilds the journal without AUTOINCREMENT: entries and seq kept, seq goes on from the last, still append-only")
    func migratesJournal() throws {
        // Given a database at v2 whose journal has entries 1, 2 and 5
        let home = try TestHome()
        let path = home.file("pylon.db").path(percentEncoded: false)
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v2")
            try queue.write { db in
                for seq in [1, 2, 5] {
                    try db.execute(
                        sql: "INSERT INTO journal (seq, time, kind, data) VALUES (?, '2026-11-30T06:00:00.000Z', 'relay.up', ?)",
                        arguments: [seq, #"{"url":"wss://r.example"}"#])
                }
            }
        }
        // When pylon opens it
        let store = try PylonStore.open(path: path)
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        // Then the entries are there with their seq, the next one follows the largest, and no
        // sequence is kept for the journal any more
        #expect(try store.journal().map(\.seq) == [1, 2, 5])
        let next = try store.append(kind: "daemon.started")
        #expect(next.seq == 6)
        let (autoincrement, sequences, triggers) = try raw(store) { db in
            (
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'journal'"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_sequence WHERE name = 'journal'"),
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            )
        }
        #expect(autoincrement?.contains("AUTOINCREMENT") == false)
        #expect(sequences == 0)
        #expect(triggers == ["journal_append_only_update", "journal_append_only_delete"])
        #expect(throws: DatabaseError.self) { try raw(store) { db in try db.execute(sql: "DELETE FROM journal WHERE seq = 6") } }
        #expect(throws: DatabaseError.self) { try raw(store) { db in try db.execute(sql: "UPDATE journal SET kind = 'x'") } }
    }

    @Test("v4 gives buyer jobs a payment hash: a v3 database keeps its buyer jobs, the column is checked")
    func migratesBuyerPaymentHash() throws {
        // Given a database at v3 with a buyer job
        let home = try TestHome()
        let path = home.file("pylon.db").path(percentEncoded: false)
        let id = String(repeating: "ab", count: 32)
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v3")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO buyer_jobs (id, kind, prompt, status, amount_paid_msats, created_at, updated_at)
                        VALUES (?, 5050, 'hello', 'payment_required', 0, '2026-11-30T06:00:00.000Z', '2026-11-30T06:00:00.000Z')
                        """, arguments: [id])
            }
        }
        // When pylon opens it, the job reads back without a payment hash and takes one
        let store = try PylonStore.open(path: path)
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        let eventID = try EventID(hex: id)
        #expect(try store.buyerJob(id: eventID)?.paymentHash == nil)
        let hash = String(repeating: "cd", count: 32)
        try store.updateBuyerJob(id: eventID) { $0.paymentHash = hash }
        #expect(try store.buyerJob(id: eventID)?.paymentHash == hash)
        #expect(throws: DatabaseError.self) { try raw(store) { db in try db.execute(sql: "UPDATE buyer_jobs SET payment_hash = 'short'") } }
    }

    @Test("v2 rebuilds jobs and buyer_jobs in a v1 database: rows, references and checks kept")
    func migratesFromV1() throws {
        // Given a database at v1 with a job, an earning that references it, and a buyer job
        let home = try TestHome()
        let path = home.file("pylon.db").path(percentEncoded: false)
        let job = request()
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(
                    sql: "INSERT INTO processed_requests (event_id, outcome, seen_at) VALUES (?, 'admitted', 't')", arguments: [job.id.hex])
                try db.execute(
                    sql: """
                        INSERT INTO jobs (arrival, id, kind, customer, status, input, input_bytes, request, received_at, admitted_at,
                            started_at, finished_at, model, backend, result_event_id)
                        VALUES (7, ?, 5050, ?, 'completed', 'Say hello', 9, '{}', 't', 't', 't', 't', 'm', 'b', ?)
                        """,
                    arguments: [job.id.hex, customer.publicKey.hex, job.id.hex])
                try db.execute(
                    sql: "INSERT INTO earnings (job_id, amount_msats, source, received_at) VALUES (?, 1000, 'job', 't')",
                    arguments: [job.id.hex])
                try db.execute(
                    sql: """
                        INSERT INTO buyer_jobs (id, kind, prompt, status, created_at, updated_at)
                        VALUES (?, 5050, 'hi', 'processing', 't', 't')
                        """,
                    arguments: [job.id.hex])
            }
        }
        // When pylon opens it
        let store = try PylonStore.open(path: path)
        // Then v2 ran, the rows are there with their rowid, the earning still points at its job
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        let (arrival, earningJob, buyerStatus, violations, indexes) = try raw(store) { db in
            (
                try Int.fetchOne(db, sql: "SELECT arrival FROM jobs WHERE id = ?", arguments: [job.id.hex]),
                try String.fetchOne(db, sql: "SELECT jobs.id FROM earnings JOIN jobs ON jobs.id = earnings.job_id"),
                try String.fetchOne(db, sql: "SELECT status FROM buyer_jobs"),
                try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count,
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
            )
        }
        #expect(arrival == 7)
        #expect(earningJob == job.id.hex)
        #expect(buyerStatus == "processing")
        #expect(violations == 0)
        #expect(indexes.isSuperset(of: ["jobs_status", "buyer_jobs_created", "buyer_jobs_status"]))
        // And the checks still refuse an unknown status, and a finished job without its time
        for sql in [
            "UPDATE jobs SET status = 'paused'", "UPDATE jobs SET finished_at = NULL", "UPDATE buyer_jobs SET status = 'paused'",
        ] {
            #expect(throws: DatabaseError.self, "\(sql)") { try raw(store) { db in try db.execute(sql: sql) } }
        }
    }

    @Test("a job's insert and status changes build no temporary index (no IN list of three or more in a check)")
    func noTemporaryIndexPerWrite() throws {
        let store = try PylonStore.inMemory()
        let statements = [
            "UPDATE jobs SET status = 'running', model = ?, backend = ?, started_at = ? WHERE id = ? AND status = 'queued'",
            """
            UPDATE jobs SET status = 'completed', finished_at = ?, prompt_tokens = ?, completion_tokens = ?,
                output_bytes = ?, duration_ms = ?, result_event_id = ? WHERE id = ? AND status = 'running'
            """,
            "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
            "UPDATE buyer_jobs SET status = ?, updated_at = ? WHERE id = ?",
        ]
        for sql in statements {
            let arguments = StatementArguments(Array(repeating: nil as String?, count: sql.count { $0 == "?" }))
            let opcodes = try raw(store) { db in
                try Row.fetchAll(db, sql: "EXPLAIN " + sql, arguments: arguments).map { $0["opcode"] as String }
            }
            #expect(!opcodes.isEmpty)
            #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
        }
    }

    @Test("a database from a newer pylon is refused with incompatible_schema")
    func newerSchema() throws {
        // Given a database whose migrations table names one this build does not know
        let fixture = try Fixture()
        try raw(fixture.store) { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999')") }
        try fixture.store.close()
        // When it opens, then it is refused, and the file is untouched
        let error = storeError { _ = try fixture.reopen() }
        #expect(error?.code == .incompatibleSchema)
        #expect(error?.message.contains("newer pylon") == true)
    }

    @Test("a path that cannot be created is a file_system error that names it")
    func badPath() {
        let error = storeError { _ = try PylonStore.open(path: "/proc/pylon-cannot/pylon.db") }
        #expect(error?.code == .fileSystem)
        #expect(error?.message.contains("/proc/pylon-cannot") == true)
    }

    @Test("CHECK constraints hold beneath the API: an unknown status is refused")
    func checks() throws {
        let fixture = try Fixture()
        let id = request().id
        try fixture.store.admit(newJob(request()))
        #expect(throws: DatabaseError.self) {
            try raw(fixture.store) { db in try db.execute(sql: "UPDATE jobs SET status = 'paused' WHERE id = ?", arguments: [id.hex]) }
        }
        #expect(throws: DatabaseError.self) {
            try raw(fixture.store) { db in
                try db.execute(sql: "INSERT INTO earnings (amount_msats, source, received_at) VALUES (0, 'zap', 'x')")
            }
        }
    }

    @Test("the in-memory store has the same schema")
    func inMemory() throws {
        let store = try PylonStore.inMemory()
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5"])
        try store.admit(newJob(request()))
        #expect(try store.statistics().jobsUnfinished == 1)
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds and read back exactly")
    func timestamps() {
        #expect(RFC3339.string(from: TestClock.start) == "2026-11-29T15:00:00.000Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0.123)) == "1970-01-01T00:00:00.123Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        for ms: Int64 in [0, 1, 999, 86_399_999, 951_782_400_500, 1_795_964_400_123, -62_135_596_800_000, 253_402_300_799_999] {
            let text = RFC3339.string(milliseconds: ms)
            #expect(RFC3339.milliseconds(from: text) == ms, "\(text)")
        }
        #expect(RFC3339.date(from: "2026-02-29T00:00:00.000Z") == nil)
        #expect(RFC3339.date(from: "2026-11-29T15:00:00Z") == TestClock.start)
        #expect(RFC3339.string(from: RFC3339.startOfUTCDay(TestClock.start)) == "2026-11-29T00:00:00.000Z")
    }
}
