public import Foundation
import GRDB
public import NostrCore

/// One journal entry as the store keeps it: `{"seq": N, "time": "RFC 3339", "kind": "job.admitted",
/// "data": {...}}` (SPEC §12). The daemon maps it onto ControlProtocol's `JournalEntry`.
public struct JournalRecord: Sendable, Hashable {
    /// Strictly increasing over the journal, never reused.
    public var seq: Int64
    /// When the transaction that wrote it ran, to the millisecond.
    public var time: Date
    /// A ``JournalKinds`` value or a daemon-level kind (`daemon.started`, `relay.up`, ...).
    public var kind: String
    /// Always a JSON object; its members per kind are listed on ``JournalKinds``.
    public var data: JSON

    public init(seq: Int64, time: Date, kind: String, data: JSON) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.data = data
    }

    /// `time` as the journal writes it: `2026-11-29T15:07:00.123Z`.
    public var timeText: String { Timestamp.string(time) }

    /// The entry as one JSON object, members in SPEC §12's order (`events --follow` prints one per line).
    public var json: JSON {
        .object([
            .init("seq", .integer(seq)), .init("time", .string(timeText)), .init("kind", .string(kind)), .init("data", data),
        ])
    }
}

/// The kinds the store itself writes, each together with the state it records, and what their
/// `data` holds. Kinds never change meaning once shipped (SPEC §12); new ones are added.
///
/// Times inside `data` are RFC 3339 text like the entry's `time`; ids, keys and payment hashes are
/// lowercase hex; optional members are present with `null`.
public enum JournalKinds {
    /// A request for this node arrived and was decided on; the `job.admitted` or `job.rejected`
    /// that follows in the same transaction says how. `id`, `kind`, `customer`, `created_at`.
    public static let jobReceived = "job.received"
    /// A request became a job. `id`, `kind`, `customer`, `status` (`queued` or
    /// `awaiting_payment`), `requested_model`, `input`, `input_bytes`, `params`, `bid_msats`,
    /// `price_msats`, `encrypted`, `relays`, `priority`, `received_at`, `request` (the event).
    /// The entry's `seq` is the job's arrival; its time, the job's `admitted_at`.
    public static let jobAdmitted = "job.admitted"
    /// A request was turned away. `id`, `reason`, and what the caller added.
    public static let jobRejected = "job.rejected"
    /// `id`, `model`, `backend`.
    public static let jobStarted = "job.started"
    /// `id`, `result_event_id`, `prompt_tokens`, `completion_tokens`, `output_bytes`, `duration_ms`.
    /// A payment that came with the result follows as a `payment.received` in the same transaction.
    public static let jobCompleted = "job.completed"
    /// `id`, `reason`, `from` (the status it left).
    public static let jobFailed = "job.failed"
    /// `id`, `reason`, `from`.
    public static let jobCancelled = "job.cancelled"
    /// A running job put back in the queue (a restart interrupted it). `id`, `reason`, `from`.
    public static let jobRequeued = "job.requeued"
    /// `payment_hash`, `job_id`, `bolt11`, `amount_msats`, `expires_at`.
    public static let invoiceCreated = "invoice.created"
    /// `payment_hash`, `job_id`. When the job was still waiting for this payment, a `job.failed`
    /// follows in the same transaction.
    public static let invoiceExpired = "invoice.expired"
    /// `earning_id`, `job_id`, `amount_msats`, `source`, `payment_hash`, `invoice` (true when it
    /// settled an invoice of this store), `job_status` (the job's new status when the payment
    /// released it from `awaiting_payment`, else null).
    public static let paymentReceived = "payment.received"
    /// `name`, `pubkey`, `state`, `goal`, `heartbeat_secs`, `tick_budget_msats`.
    public static let agentCreated = "agent.created"
    /// `name`, `from`.
    public static let agentStarted = "agent.started"
    /// `name`, `from`, `reason`.
    public static let agentStopped = "agent.stopped"
    /// `name`, `from`, `to`, `reason`.
    public static let agentStateChanged = "agent.state_changed"
    /// `name`, `tick_id`, `started_at`, `duration_ms`, `prompt_tokens`, `completion_tokens`,
    /// `cost_msats`, `outcome`, `note`.
    public static let agentTicked = "agent.ticked"
    /// `name`, `ticks` (how many tick rows went with it).
    public static let agentDeleted = "agent.deleted"

    /// Kinds that only the store writes, because each records a state change; ``PylonStore/append(kind:data:)``
    /// refuses them.
    public static let stateKinds: Set<String> = [
        jobReceived, jobAdmitted, jobRejected, jobStarted, jobCompleted, jobFailed, jobCancelled, jobRequeued, invoiceCreated,
        invoiceExpired, paymentReceived, agentCreated, agentStarted, agentStopped, agentStateChanged, agentTicked, agentDeleted,
    ]
}

extension PylonStore {
    /// Appends a daemon-level entry (`daemon.started`, `relay.up`, `config.reloaded`, ...), which
    /// records no state of this store. `data` must be an object; a kind is 1 to 64 of
    /// `a-z 0-9 _ .`. Kinds in ``JournalKinds/stateKinds`` are refused: they go with their state.
    @discardableResult
    public func append(kind: String, data: JSON = .object([])) throws(PylonStoreError) -> JournalRecord {
        guard !kind.isEmpty, kind.utf8.count <= 64,
            kind.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2E })
        else {
            throw PylonStoreError(.invalidArgument, "journal kind \"\(kind.prefix(80))\" is not 1 to 64 of a-z, 0-9, '_' and '.'")
        }
        guard !JournalKinds.stateKinds.contains(kind) else {
            throw PylonStoreError(.invalidArgument, "journal kind \(kind) records state and is written by the store's own operations")
        }
        guard case .object = data else {
            throw PylonStoreError(.invalidArgument, "journal data must be a JSON object, got \(data.typeName)")
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
        let kind: String = try row.decode(atIndex: 2)
        let dataText: String = try row.decode(atIndex: 3)
        guard let time = Timestamp.parse(timeText) else {
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
