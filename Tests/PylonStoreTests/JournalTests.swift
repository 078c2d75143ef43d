import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Journal")
struct JournalTests {
    @Test("append gives seq 1, 2, 3 … with the store's time and the data as given")
    func append() throws {
        // Given an empty store
        let fixture = try Fixture()
        let store = fixture.store
        #expect(try store.lastSeq() == 0)
        // When daemon-level entries are appended
        let first = try store.append(kind: "daemon.started", data: .object([.init("pid", .integer(42))]))
        fixture.clock.advance(1.5)
        let second = try store.append(kind: "relay.up", data: .object([.init("url", .string("wss://relay.example.com"))]))
        // Then they come back in order, equal to what append returned
        #expect(first.seq == 1)
        #expect(second.seq == 2)
        #expect(first.time == TestClock.start)
        #expect(second.timeText == "2026-11-29T15:00:01.500Z")
        #expect(try store.journal() == [first, second])
        #expect(try store.lastSeq() == 2)
        // And the stored form is SPEC §12's entry
        #expect(first.json.serialized == #"{"seq":1,"time":"2026-11-29T15:00:00.000Z","kind":"daemon.started","data":{"pid":42}}"#)
        let stored = try raw(store) { db in try String.fetchOne(db, sql: "SELECT data FROM journal WHERE seq = 2") }
        #expect(stored == #"{"url":"wss://relay.example.com"}"#)
    }

    @Test("since N gives the entries with seq > N; limit caps them")
    func since() throws {
        let store = try Fixture().store
        for i in 0..<5 { try store.append(kind: "relay.up", data: .object([.init("n", .integer(Int64(i)))])) }
        #expect(try store.journal(since: 0).map(\.seq) == [1, 2, 3, 4, 5])
        #expect(try store.journal(since: 3).map(\.seq) == [4, 5])
        #expect(try store.journal(since: 5).isEmpty)
        #expect(try store.journal(since: 99).isEmpty)
        #expect(try store.journal(since: 1, limit: 2).map(\.seq) == [2, 3])
        #expect(try store.journal(since: -7).count == 5)
    }

    @Test("seq keeps increasing across a reopen and is never reused")
    func seqAcrossReopen() throws {
        // Given a store with entries, closed
        let fixture = try Fixture()
        for _ in 0..<3 { try fixture.store.append(kind: "relay.up") }
        try fixture.store.close()
        // When it reopens and appends
        let store = try fixture.reopen()
        let next = try store.append(kind: "daemon.started")
        // Then the new entry follows the old ones
        #expect(next.seq == 4)
        #expect(try store.journal().map(\.seq) == [1, 2, 3, 4])
    }

    @Test("the journal is append-only: UPDATE and DELETE fail beneath the API")
    func appendOnly() throws {
        let fixture = try Fixture()
        try fixture.store.append(kind: "relay.up")
        let before = try fixture.store.journal()
        #expect(throws: DatabaseError.self) {
            try raw(fixture.store) { db in try db.execute(sql: "UPDATE journal SET kind = 'relay.down'") }
        }
        #expect(throws: DatabaseError.self) {
            try raw(fixture.store) { db in try db.execute(sql: "DELETE FROM journal") }
        }
        #expect(throws: DatabaseError.self) {
            try raw(fixture.store) { db in
                try db.execute(sql: "INSERT INTO journal (time, kind, data) VALUES ('2026-11-29T15:00:00.000Z', 'x.y', '[1]')")
            }
        }
        #expect(try fixture.store.journal() == before)
    }

    @Test("append refuses kinds the store writes itself, malformed kinds and non-object data")
    func appendValidation() throws {
        let store = try Fixture().store
        for kind in JournalKind.stateKinds {
            #expect(storeError { try store.append(kind: kind) }?.code == .invalidArgument, "\(kind)")
        }
        for kind in ["", "Relay.Up", "relay up", String(repeating: "a", count: 65)] {
            #expect(storeError { try store.append(kind: JournalKind(rawValue: kind)) }?.code == .invalidArgument, "\(kind)")
        }
        #expect(storeError { try store.append(kind: "relay.up", data: .array([])) }?.code == .invalidArgument)
        #expect(try store.lastSeq() == 0)
        #expect(try store.append(kind: "relay.up", data: .object([.init("url", .string("ws://x"))])).seq == 1)
    }

    @Test("follow gives the entries after seq, then new ones as they are committed")
    func follow() async throws {
        // Given three entries
        let store = try Fixture().store
        for _ in 0..<3 { try store.append(kind: "relay.up") }
        // When a follower starts after the first
        var iterator = store.follow(since: 1, batchSize: 1).makeAsyncIterator()
        // Then it reads the existing ones
        #expect(try await iterator.next()?.seq == 2)
        #expect(try await iterator.next()?.seq == 3)
        // And then waits for, and gets, new commits in order (written from another task)
        let writer = Task {
            for i in 0..<20 {
                try store.append(kind: "relay.down", data: .object([.init("n", .integer(Int64(i)))]))
                if i % 5 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        var seen: [Int64] = []
        while seen.count < 20, let record = try await iterator.next() { seen.append(record.seq) }
        try await writer.value
        #expect(seen == Array(4...23))
    }

    @Test("a follower ends when its task is cancelled and when the store closes")
    func followEnds() async throws {
        let store = try Fixture().store
        try store.append(kind: "relay.up")
        // Cancelled while waiting
        let seen = Counter()
        let cancelled = Task {
            for try await _ in store.follow(since: 0) { seen.increment() }
        }
        #expect(await awaitCondition { seen.value == 1 && store.signals.subscriberCount == 1 })
        cancelled.cancel()
        try await cancelled.value
        #expect(await awaitCondition { store.signals.subscriberCount == 0 })
        // Closed while waiting
        let closing = Task {
            for try await _ in store.follow(since: 0) { seen.increment() }
        }
        #expect(await awaitCondition { seen.value == 2 })
        try store.close()
        try await closing.value
        #expect(seen.value == 2)
    }

    @Test("journalUpdates reports the last seq of each commit")
    func updates() async throws {
        let store = try Fixture().store
        var updates = store.journalUpdates().makeAsyncIterator()
        try store.append(kind: "relay.up")
        #expect(await updates.next() == 1)
        // Two commits before the reader looks: only the newest is kept
        try store.append(kind: "relay.up")
        try store.append(kind: "relay.up")
        #expect(await updates.next() == 3)
    }
}
