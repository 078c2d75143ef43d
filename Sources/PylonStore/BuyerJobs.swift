import GRDB
public import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The buyer's history (`pylon job list|status|result`). Not journaled: the journal records what
// this node decided as a provider and host; a buyer job is the user's own request and its record
// is this row.

extension PylonStore {
    /// Inserts or replaces a buyer job; `updatedAt` becomes the store's time. Returns the row as saved.
    @discardableResult
    public func saveBuyerJob(_ job: BuyerJob) throws(PylonStoreError) -> BuyerJob {
        try Self.validate(job)
        return try write("save buyer job \(job.id)") { tx in
            let saved = Self.stamped(job, now: tx.now)
            try Self.upsert(saved, into: tx.db)
            return saved
        }
    }

    /// Reads, changes and saves a buyer job in one transaction (appending feedback as it arrives,
    /// setting the result). `not_found` when there is no such job. `change` runs inside the write
    /// transaction: it must be quick and must not call the store (GRDB access is not reentrant).
    @discardableResult
    public func updateBuyerJob(id: EventID, _ change: (inout BuyerJob) throws -> Void) throws(PylonStoreError) -> BuyerJob {
        try write("update buyer job \(id)") { tx in
            guard let current = try Self.buyerJob(tx.db, id) else {
                throw PylonStoreError(.notFound, "cannot update buyer job \(id): no such job")
            }
            var job = current
            try change(&job)
            guard job.id == id else { throw PylonStoreError(.invalidArgument, "buyer job \(id): its id cannot change") }
            try Self.validate(job)
            job = Self.stamped(job, now: tx.now)
            try Self.upsert(job, into: tx.db)
            return job
        }
    }

    /// `job` as it is saved: its times to the millisecond, as they read back, and updated now.
    static func stamped(_ job: BuyerJob, now: Date) -> BuyerJob {
        var saved = job
        saved.createdAt = RFC3339.rounded(job.createdAt)
        saved.updatedAt = now
        for index in saved.feedback.indices { saved.feedback[index].time = RFC3339.rounded(saved.feedback[index].time) }
        return saved
    }

    /// One buyer job, or nil.
    public func buyerJob(id: EventID) throws(PylonStoreError) -> BuyerJob? {
        try read("read buyer job \(id)") { db in try Self.buyerJob(db, id) }
    }

    /// Buyer jobs, newest first, optionally of one status.
    public func buyerJobs(status: BuyerJobStatus? = nil, limit: Int = 50) throws(PylonStoreError) -> [BuyerJob] {
        try read("list buyer jobs") { db in
            let limit = max(limit, 0)
            if let status {
                let statement = try db.cachedStatement(
                    sql: "SELECT \(BuyerJob.columns) FROM buyer_jobs WHERE status = ? ORDER BY created_at DESC, id LIMIT ?")
                return try Row.fetchAll(statement, arguments: [status.rawValue, limit]).map { try BuyerJob(row: $0) }
            }
            let statement = try db.cachedStatement(
                sql: "SELECT \(BuyerJob.columns) FROM buyer_jobs ORDER BY created_at DESC, id LIMIT ?")
            return try Row.fetchAll(statement, arguments: [limit]).map { try BuyerJob(row: $0) }
        }
    }

    static func validate(_ job: BuyerJob) throws(PylonStoreError) {
        guard job.kind.isJobRequest else {
            throw PylonStoreError(.invalidArgument, "buyer job \(job.id): kind \(job.kind) is not a NIP-90 job request (5000-5999)")
        }
        guard case .object = job.params else {
            throw PylonStoreError(.invalidArgument, "buyer job \(job.id): params must be a JSON object")
        }
        guard (job.bidMsats ?? 0) >= 0, job.amountPaidMsats >= 0 else {
            throw PylonStoreError(.invalidArgument, "buyer job \(job.id): bid and amount paid must not be negative")
        }
    }

    static func buyerJob(_ db: Database, _ id: EventID) throws -> BuyerJob? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(BuyerJob.columns) FROM buyer_jobs WHERE id = ?"), arguments: [id.hex])
            .map { try BuyerJob(row: $0) }
    }

    static func upsert(_ job: BuyerJob, into db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO buyer_jobs (\(BuyerJob.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    kind = excluded.kind, provider = excluded.provider, prompt = excluded.prompt, params = excluded.params,
                    bid_msats = excluded.bid_msats, encrypted = excluded.encrypted, relays = excluded.relays,
                    status = excluded.status, result = excluded.result, result_event_id = excluded.result_event_id,
                    answered_by = excluded.answered_by, feedback = excluded.feedback,
                    amount_paid_msats = excluded.amount_paid_msats, error = excluded.error,
                    created_at = excluded.created_at, updated_at = excluded.updated_at, payment_hash = excluded.payment_hash
                """)
        let values: [(any DatabaseValueConvertible)?] = [
            job.id.hex, Int64(job.kind.rawValue), job.provider?.hex, job.prompt, job.params.serialized, job.bidMsats, job.encrypted,
            StoreJSON.strings(job.relays).serialized, job.status.rawValue, job.result, job.resultEventID?.hex, job.answeredBy?.hex,
            JSON.array(job.feedback.map(\.json)).serialized, job.amountPaidMsats, job.error, RFC3339.string(from: job.createdAt),
            RFC3339.string(from: job.updatedAt), job.paymentHash,
        ]
        try statement.execute(arguments: StatementArguments(values))
    }
}

extension BuyerJob {
    static let columns = """
        id, kind, provider, prompt, params, bid_msats, encrypted, relays, status, result, result_event_id, answered_by, \
        feedback, amount_paid_msats, error, created_at, updated_at, payment_hash
        """

    init(row: Row) throws {
        var r = RowReader(row, table: "buyer_jobs")
        let id = try r.eventID()
        let kind = try r.kind()
        let provider = try r.optionalPublicKey()
        let prompt = try r.text()
        let params = try r.json()
        let bid = try r.optionalInt64()
        let encrypted = try r.bool()
        let relays = try r.strings()
        let status = try r.enumeration(BuyerJobStatus.self)
        let result = try r.optionalText()
        let resultEventID = try r.optionalEventID()
        let answeredBy = try r.optionalPublicKey()
        guard case .array(let items) = try r.json() else {
            throw PylonStoreError(.corruptData, "buyer_jobs.feedback of \(id) is not a JSON array")
        }
        let feedback = try items.map { item throws(PylonStoreError) in try BuyerFeedback(json: item, job: id) }
        let paid = try r.int64()
        let error = try r.optionalText()
        let createdAt = try r.date()
        let updatedAt = try r.date()
        let paymentHash = try r.optionalText()
        self.init(
            id: id, kind: kind, provider: provider, prompt: prompt, params: params, bidMsats: bid, encrypted: encrypted, relays: relays,
            status: status, result: result, resultEventID: resultEventID, answeredBy: answeredBy, feedback: feedback,
            amountPaidMsats: paid, paymentHash: paymentHash, error: error, createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension BuyerFeedback {
    var json: JSON {
        StoreJSON.object([
            "status": .string(status.rawValue), "provider": StoreJSON.text(provider?.hex), "message": StoreJSON.text(message),
            "amount_msats": StoreJSON.int(amountMsats), "bolt11": StoreJSON.text(bolt11), "time": StoreJSON.time(time),
        ])
    }

    init(json: JSON, job: EventID) throws(PylonStoreError) {
        let reader = DataReader(json, context: "buyer_jobs.feedback of \(job)")
        let text = try reader.string("status")
        guard let status = FeedbackStatus(rawValue: text) else { throw reader.fail("status", "is not a NIP-90 feedback status: \(text)") }
        self.init(
            status: status, provider: try reader.optionalPublicKey("provider"),
            message: try reader.optionalString("message"), amountMsats: try reader.optionalInt64("amount_msats"),
            bolt11: try reader.optionalString("bolt11"), time: try reader.date("time"))
    }
}
