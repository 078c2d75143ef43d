import GRDB
import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One journal entry as the store keeps it: `{"seq": N, "time": "RFC 3339", "kind": "job.admitted",
/// "data": {...}}` (SPEC §12). The daemon maps it onto ControlProtocol's `JournalEntry`.
public struct JournalRecord: Sendable, Hashable {
    /// Strictly increasing over the journal, never reused.
    public var seq: Int64
    /// When the transaction that wrote it ran, to the millisecond.
    public var time: Date
    /// A store kind (``JournalKind/stateKinds``) or a daemon-level one (`daemon.started`, `relay.up`, ...).
    public var kind: JournalKind
    /// Always a JSON object; its members per kind are listed on ``JournalKind``.
    public var data: JSON

    public init(seq: Int64, time: Date, kind: JournalKind, data: JSON) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.data = data
    }

    /// `time` as the journal writes it: `2026-11-29T15:07:00.123Z`.
    public var timeText: String { RFC3339.string(from: time) }

    /// The entry as one JSON object, members in SPEC §12's order (`events --follow` prints one per line).
    public var json: JSON {
        .object([
            .init("seq", .integer(seq)), .init("time", .string(timeText)), .init("kind", .string(kind.rawValue)), .init("data", data),
        ])
    }
}

extension PylonStore {
    /// Appends a daemon-level entry (`daemon.started`, `relay.up`, `config.reloaded`, ...), which
    /// records no state of this store. `data` must be an object; a kind is 1 to 64 of
    /// `a-z 0-9 _ .`. Kinds in ``JournalKind/stateKinds`` are refused: they go with their state.
    @discardableResult
    public func append(kind: JournalKind, data: JSON = .object([])) throws(PylonStoreError) -> JournalRecord {
        let name = kind.rawValue
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2E })
        else {
            throw PylonStoreError(.invalidArgument, "journal kind \"\(name.prefix(80))\" is not 1 to 64 of a-z, 0-9, '_' and '.'")
        }
        guard !JournalKind.stateKinds.contains(kind) else {
            throw PylonStoreError(.invalidArgument, "journal kind \(kind) records state and is written by the store's own operations")
        }
        guard case .object = data else {
            throw PylonStoreError(.invalidArgument, "journal data must be a JSON object, got \(data.typeDescription)")
        }
        return try write("append \(kind) to the journal") { tx in try tx.journal(kind, data) }
    }

    /// Entries with `seq > since`, oldest first, at most `limit` of them (all when nil).
    public func journal(since: Int64 = 0, limit: Int? = nil) throws(PylonStoreError) -> [JournalRecord] {
        try read("read the journal") { db in
            let statement = try db.cachedStatement(sql: "SELECT seq, time, kind, data FROM journal WHERE seq > ? ORDER BY seq LIMIT ?")
            let rows = try Row.fetchCursor(statement, arguments: [since, limit.map { max($0, 0) } ?? -1])
            var records: [JournalRecord] = []
            while let row = try rows.next() { records.append(try JournalRecord(row: row)) }
            return records
        }
    }

    /// The last `seq` written, 0 for an empty journal.
    public func lastSeq() throws(PylonStoreError) -> Int64 {
        try read("read the journal") { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM journal")) ?? 0
        }
    }

    /// Wake-ups for followers: the journal's last `seq` after each commit of this store that
    /// appended entries. Only the newest is buffered. The stream ends when the store closes or the
    /// consuming task is cancelled. Writes by another process are not seen.
    public func journalUpdates() -> AsyncStream<Int64> {
        signals.subscribe()
    }

    /// Every entry with `seq > since`, then each new one as it is committed, in order, without gaps
    /// or repeats (`pylon events --follow`). Ends when the store closes or the task is cancelled.
    public func follow(since: Int64 = 0, batchSize: Int = 256) -> JournalFollower {
        JournalFollower(store: self, since: since, batchSize: max(batchSize, 1))
    }
}

/// The entries of the journal after a `seq`, read in batches, then waiting for new commits.
public struct JournalFollower: AsyncSequence, Sendable {
    public typealias Element = JournalRecord
    let store: PylonStore
    let since: Int64
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, last: since, batchSize: batchSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let store: PylonStore
        var last: Int64
        let batchSize: Int
        var buffer: [JournalRecord] = []
        var index = 0
        var updates: AsyncStream<Int64>.Iterator?

        init(store: PylonStore, last: Int64, batchSize: Int) {
            self.store = store
            self.last = last
            self.batchSize = batchSize
        }

        public mutating func next() async throws -> JournalRecord? {
            // Subscribe before the first read, so a commit between the read and the wait still
            // leaves a wake-up behind.
            if updates == nil { updates = store.journalUpdates().makeAsyncIterator() }
            while true {
                if index < buffer.count {
                    let record = buffer[index]
                    index += 1
                    last = record.seq
                    return record
                }
                if Task.isCancelled { return nil }
                buffer = try store.journal(since: last, limit: batchSize)
                index = 0
                if !buffer.isEmpty { continue }
                guard await updates?.next() != nil else { return nil }
            }
        }
    }
}

extension JournalRecord {
    init(row: Row) throws {
        let seq: Int64 = try row.decode(atIndex: 0)
        let timeText: String = try row.decode(atIndex: 1)
        let kind = JournalKind(rawValue: try row.decode(atIndex: 2) as String)
        let dataText: String = try row.decode(atIndex: 3)
        guard let time = RFC3339.date(from: timeText) else {
            throw PylonStoreError(.corruptData, "journal entry \(seq) has the time \"\(timeText.prefix(40))\", not RFC 3339")
        }
        let data: JSON
        do {
            data = try JSON.parse(dataText)
        } catch {
            throw PylonStoreError(.corruptData, "journal entry \(seq) has data that is not JSON: \(error.message)", cause: error)
        }
        self.init(seq: seq, time: time, kind: kind, data: data)
    }
}
