import Foundation
import GRDB
import NostrCore
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Schema and file")
struct SchemaTests {
    @Test("opening creates every table with the v1 migration, WAL on, foreign keys on, synchronous NORMAL")
    func schema() throws {
        // Given a new home
        let fixture = try Fixture()
        // When the store opens it
        let store = fixture.store
        // Then the migration ran and the pragmas hold on the writer connection
        #expect(try store.appliedMigrations() == ["v1"])
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
        #expect(try again.appliedMigrations() == ["v1"])
        #expect(try again.jobs().count == 1)
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
        #expect(try store.appliedMigrations() == ["v1"])
        try store.admit(newJob(request()))
        #expect(try store.statistics().jobsUnfinished == 1)
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds and read back exactly")
    func timestamps() {
        #expect(Timestamp.string(TestClock.start) == "2026-11-29T15:00:00.000Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: 0.123)) == "1970-01-01T00:00:00.123Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        for ms: Int64 in [0, 1, 999, 86_399_999, 951_782_400_500, 1_795_964_400_123, -62_135_596_800_000, 253_402_300_799_999] {
            let text = Timestamp.string(milliseconds: ms)
            #expect(Timestamp.parseMilliseconds(text) == ms, "\(text)")
        }
        #expect(Timestamp.parse("2026-02-29T00:00:00.000Z") == nil)
        #expect(Timestamp.parse("2026-11-29T15:00:00Z") == nil)
        #expect(Timestamp.string(Timestamp.startOfUTCDay(TestClock.start)) == "2026-11-29T00:00:00.000Z")
    }
}
