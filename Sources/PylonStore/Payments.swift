import GRDB
public import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// Invoices and earnings (SPEC §8 "Payment"). A payment hash is recorded once: nobody pays twice. A
// payment for a job waiting for it releases the job (`awaiting_payment` → `queued`) in the same
// transaction once the job's payments cover its price.

extension PylonStore {
    // MARK: - Invoices

    /// Records an invoice the wallet made; appends `invoice.created`. An invoice for a job needs
    /// the job to be `awaiting_payment`.
    @discardableResult
    public func createInvoice(_ invoice: NewInvoice) throws(PylonStoreError) -> JournalRecord {
        try Self.validatePaymentHash(invoice.paymentHash)
        guard !invoice.bolt11.isEmpty, invoice.amountMsats > 0 else {
            throw PylonStoreError(.invalidArgument, "invoice \(invoice.paymentHash): needs a bolt11 and a positive amount")
        }
        let hash = invoice.paymentHash
        let expiresAt = invoice.expiresAt.map(RFC3339.rounded)
        return try write("record invoice \(hash)") { tx in
            if let jobID = invoice.jobID {
                _ = try Self.requireJob(tx, jobID.hex, to: "invoice", allowed: [.awaitingPayment])
            }
            let row = Invoice(
                paymentHash: hash, jobID: invoice.jobID, bolt11: invoice.bolt11, amountMsats: invoice.amountMsats, state: .pending,
                createdAt: tx.now, expiresAt: expiresAt, settledAt: nil)
            do {
                try Self.insert(row, into: tx.db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                // The payment hash is the key: the insert itself finds a second one.
                throw PylonStoreError(.duplicate, "invoice \(hash) was already recorded", cause: error)
            }
            return try tx.journal(
                JournalKind.invoiceCreated,
                StoreJSON.object([
                    "payment_hash": .string(hash), "job_id": StoreJSON.text(invoice.jobID?.hex), "bolt11": .string(invoice.bolt11),
                    "amount_msats": .integer(invoice.amountMsats), "expires_at": StoreJSON.time(expiresAt),
                ]))
        }
    }

    /// The wallet confirmed payment: `pending` (or `expired`: money that arrives late still
    /// counts) → `settled`, with the earning and `payment.received`; a job waiting for it becomes
    /// `queued`. `amountMsats` is what arrived when the wallet says, else the invoice's amount.
    /// Settling twice is `invalid_transition`.
    ///
    /// `startingOn`: the job has a slot now; when the payment releases it (`job_status` `queued`
    /// in the returned record), it also starts, `running` with its `job.started`, in the same
    /// transaction, as ``admit(_:startingOn:)`` starts a free job. A job the payment does not
    /// release is not started.
    @discardableResult
    public func settleInvoice(paymentHash: String, amountMsats: Int64? = nil, startingOn start: JobStart? = nil) throws(PylonStoreError)
        -> JournalRecord
    {
        try Self.validatePaymentHash(paymentHash)
        if let start, start.model.isEmpty || start.backend.isEmpty {
            throw PylonStoreError(.invalidArgument, "settling invoice \(paymentHash): starting its job needs a model and a backend")
        }
        return try write("settle invoice \(paymentHash)") { tx in
            // What the earning needs, not the whole row (its times would be parsed for nothing).
            // (Not UPDATE … RETURNING: SQLite buffers the returned rows in a temporary table.)
            let statement = try tx.db.cachedStatement(sql: "SELECT state, amount_msats, job_id FROM invoices WHERE payment_hash = ?")
            guard let row = try Row.fetchOne(statement, arguments: [paymentHash]) else {
                throw PylonStoreError(.notFound, "cannot settle invoice \(paymentHash): no such invoice")
            }
            var reader = RowReader(row, table: "invoices")
            let state = try reader.enumeration(InvoiceState.self)
            let invoiceAmount = try reader.int64()
            let jobID = try reader.optionalEventID()
            guard state == .pending || state == .expired else {
                throw PylonStoreError(.invalidTransition, "cannot settle invoice \(paymentHash): it is \(state.rawValue)")
            }
            try tx.execute("UPDATE invoices SET state = 'settled', settled_at = ? WHERE payment_hash = ?", [tx.nowText, paymentHash])
            let earning = NewEarning(
                amountMsats: amountMsats ?? invoiceAmount, source: jobID == nil ? .other : .job, paymentHash: paymentHash, jobID: jobID)
            let record = try Self.recordPayment(tx, earning, invoice: true, startingOn: start)
            if let start, let jobID = jobID?.hex, record.data["job_status"]?.stringValue == JobStatus.queued.rawValue {
                _ = try tx.journal(.jobStarted, Self.started(jobID, start))
            }
            return record
        }
    }

    /// `pending` → `expired`; appends `invoice.expired`. A job still waiting for this payment is
    /// closed honestly in the same transaction: `failed` with `reason`, and a `job.failed`.
    @discardableResult
    public func expireInvoice(paymentHash: String, reason: String = "the invoice expired unpaid") throws(PylonStoreError)
        -> [JournalRecord]
    {
        try Self.validatePaymentHash(paymentHash)
        guard !reason.isEmpty else { throw PylonStoreError(.invalidArgument, "expiring invoice \(paymentHash) needs a reason") }
        return try write("expire invoice \(paymentHash)") { tx in
            guard let invoice = try Self.invoice(tx.db, paymentHash) else {
                throw PylonStoreError(.notFound, "cannot expire invoice \(paymentHash): no such invoice")
            }
            guard invoice.state == .pending else {
                throw PylonStoreError(.invalidTransition, "cannot expire invoice \(paymentHash): it is \(invoice.state.rawValue), not pending")
            }
            try tx.execute("UPDATE invoices SET state = 'expired' WHERE payment_hash = ?", [paymentHash])
            var records = [
                try tx.journal(
                    .invoiceExpired, StoreJSON.object(["payment_hash": .string(paymentHash), "job_id": StoreJSON.text(invoice.jobID?.hex)]))
            ]
            if let jobID = invoice.jobID?.hex,
                let status = try String.fetchOne(tx.db.cachedStatement(sql: "SELECT status FROM jobs WHERE id = ?"), arguments: [jobID]),
                status == JobStatus.awaitingPayment.rawValue
            {
                try Self.finishJob(tx, jobID, status: .failed, reason: reason)
                records.append(
                    try tx.journal(
                        JournalKind.jobFailed,
                        StoreJSON.object(["id": .string(jobID), "reason": .string(reason), "from": .string(JobStatus.awaitingPayment.rawValue)])))
            }
            return records
        }
    }

    /// One invoice, or nil.
    public func invoice(paymentHash: String) throws(PylonStoreError) -> Invoice? {
        try read("read invoice \(paymentHash)") { db in try Self.invoice(db, paymentHash) }
    }

    /// The invoices of a job, oldest first.
    public func invoices(jobID: EventID) throws(PylonStoreError) -> [Invoice] {
        try read("list the invoices of job \(jobID)") { db in
            let statement = try db.cachedStatement(sql: "SELECT \(Invoice.columns) FROM invoices WHERE job_id = ? ORDER BY created_at")
            return try Row.fetchAll(statement, arguments: [jobID.hex]).map { try Invoice(row: $0) }
        }
    }

    /// Invoices still waiting for payment, soonest expiry first: what a starting daemon asks
    /// the wallet about.
    public func pendingInvoices() throws(PylonStoreError) -> [Invoice] {
        try read("list pending invoices") { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(Invoice.columns) FROM invoices WHERE state = 'pending' ORDER BY expires_at")
            return try Row.fetchAll(statement).map { try Invoice(row: $0) }
        }
    }

    // MARK: - Earnings

    /// Money that did not come through an invoice of this store (a zap, a tip, a payment with a
    /// job's result); appends `payment.received`. A payment hash recorded before is `duplicate`;
    /// one that belongs to an invoice of this store goes through ``settleInvoice(paymentHash:amountMsats:)``.
    @discardableResult
    public func recordEarning(_ earning: NewEarning) throws(PylonStoreError) -> JournalRecord {
        try write("record an earning") { tx in
            if let hash = earning.paymentHash, try Self.invoiceState(tx.db, hash) != nil {
                throw PylonStoreError(.invalidArgument, "payment \(hash) belongs to an invoice; settle the invoice instead")
            }
            return try Self.recordPayment(tx, earning, invoice: false)
        }
    }

    /// Earnings today (since midnight UTC), in the last 7 × 24 hours, and in all, with the
    /// all-time amount per source (`pylon earnings`, Status `earnings`).
    public func earningsSummary(now: Date = Date()) throws(PylonStoreError) -> EarningsSummary {
        let today = RFC3339.string(from: RFC3339.startOfUTCDay(now))
        let week = RFC3339.string(from: now.addingTimeInterval(-7 * 86_400))
        return try read("summarize earnings") { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT source, count(*), sum(amount_msats),
                        sum(CASE WHEN received_at >= ? THEN amount_msats ELSE 0 END),
                        sum(CASE WHEN received_at >= ? THEN amount_msats ELSE 0 END)
                    FROM earnings GROUP BY source
                    """)
            var summary = EarningsSummary(todayMsats: 0, weekMsats: 0, totalMsats: 0, count: 0, bySource: [:])
            let kinds = try db.cachedStatement(
                sql: "SELECT jobs.kind, sum(earnings.amount_msats) FROM earnings JOIN jobs ON jobs.id = earnings.job_id GROUP BY jobs.kind")
            for row in try Row.fetchAll(kinds) {
                var r = RowReader(row, table: "earnings")
                let kind = try r.kind()
                summary.byKind[kind] = try r.int64()
            }
            for row in try Row.fetchAll(statement, arguments: [today, week]) {
                var r = RowReader(row, table: "earnings")
                let source = try r.enumeration(EarningSource.self)
                let count = try r.int()
                let total = try r.int64()
                summary.todayMsats += try r.int64()
                summary.weekMsats += try r.int64()
                summary.totalMsats += total
                summary.count += count
                summary.bySource[source] = total
            }
            return summary
        }
    }

    /// The latest earnings, newest first.
    public func recentPayments(limit: Int = 10) throws(PylonStoreError) -> [Earning] {
        try read("list recent earnings") { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(Earning.columns) FROM earnings ORDER BY received_at DESC, id DESC LIMIT ?")
            return try Row.fetchAll(statement, arguments: [max(limit, 0)]).map { try Earning(row: $0) }
        }
    }

    /// The latest earnings with the kind of the job each paid for (nil for a payment without a
    /// job), newest first: `pylon earnings`' recent payments.
    public func recentEarnings(limit: Int = 10) throws(PylonStoreError) -> [(earning: Earning, kind: Kind?)] {
        try read("list recent earnings") { db in
            let columns = Earning.columns.split(separator: ", ").map { "earnings." + $0 }.joined(separator: ", ")
            let statement = try db.cachedStatement(
                sql: """
                    SELECT \(columns), jobs.kind FROM earnings LEFT JOIN jobs ON jobs.id = earnings.job_id
                    ORDER BY earnings.received_at DESC, earnings.id DESC LIMIT ?
                    """)
            return try Row.fetchAll(statement, arguments: [max(limit, 0)]).map { row in
                let kind: Int64? = row[row.count - 1]
                return (try Earning(row: row), kind.flatMap { UInt16(exactly: $0) }.map { Kind($0) })
            }
        }
    }

    /// The earnings of one job, oldest first.
    public func earnings(jobID: EventID) throws(PylonStoreError) -> [Earning] {
        try read("list the earnings of job \(jobID)") { db in
            let statement = try db.cachedStatement(sql: "SELECT \(Earning.columns) FROM earnings WHERE job_id = ? ORDER BY id")
            return try Row.fetchAll(statement, arguments: [jobID.hex]).map { try Earning(row: $0) }
        }
    }

    /// The totals a daemon loads at start: jobs by outcome, earnings, the journal's last `seq`.
    public func statistics() throws(PylonStoreError) -> StoreStatistics {
        try read("read statistics", isolated: true) { db in
            var stats = StoreStatistics(
                jobsCompleted: 0, jobsFailed: 0, jobsCancelled: 0, jobsUnfinished: 0, earningsMsats: 0, earningsCount: 0, lastSeq: 0)
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT status, count(*) FROM jobs GROUP BY status")) {
                var r = RowReader(row, table: "jobs")
                let status = try r.enumeration(JobStatus.self)
                let count = try r.int()
                switch status {
                case .completed: stats.jobsCompleted = count
                case .failed: stats.jobsFailed = count
                case .cancelled: stats.jobsCancelled = count
                case .queued, .awaitingPayment, .running: stats.jobsUnfinished += count
                }
            }
            if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT coalesce(sum(amount_msats), 0), count(*) FROM earnings")) {
                var r = RowReader(row, table: "earnings")
                stats.earningsMsats = try r.int64()
                stats.earningsCount = try r.int()
            }
            stats.lastSeq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM journal")) ?? 0
            return stats
        }
    }

    // MARK: - Inside transactions

    /// Inserts an earning and appends `payment.received`; releases a job waiting for payment once
    /// its payments cover the price. `startingOn`: a released job is written as started too (its
    /// `job.started` is the caller's to append, after `payment.received`).
    static func recordPayment(_ tx: WriteContext, _ earning: NewEarning, invoice: Bool, startingOn start: JobStart? = nil) throws
        -> JournalRecord
    {
        guard earning.amountMsats > 0 else {
            throw PylonStoreError(.invalidArgument, "an earning needs a positive amount, got \(earning.amountMsats) msats")
        }
        if let hash = earning.paymentHash { try validatePaymentHash(hash) }
        guard earning.source != .job || earning.jobID != nil else {
            throw PylonStoreError(.invalidArgument, "an earning of source job needs the job's id")
        }
        var job: (status: JobStatus, priceMsats: Int64)?
        if let jobID = earning.jobID?.hex {
            job = try requireJob(tx, jobID, to: "pay for", allowed: Set(JobStatus.allCases))
        }
        do {
            try tx.execute(
                "INSERT INTO earnings (job_id, amount_msats, source, payment_hash, received_at) VALUES (?, ?, ?, ?, ?)",
                [earning.jobID?.hex, earning.amountMsats, earning.source.rawValue, earning.paymentHash, tx.nowText])
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            // The payment hash is unique: the insert itself finds a second one.
            throw PylonStoreError(.duplicate, "payment \(earning.paymentHash ?? "") was already recorded; a payment counts once", cause: error)
        }
        let earningID = tx.db.lastInsertedRowID
        var released: JobStatus?
        if let jobID = earning.jobID?.hex, let job, job.status == .awaitingPayment {
            // A payment that covers the price alone releases the job without adding up the others.
            let paid =
                earning.amountMsats >= job.priceMsats
                ? earning.amountMsats
                : try Int64.fetchOne(
                    tx.db.cachedStatement(sql: "SELECT coalesce(sum(amount_msats), 0) FROM earnings WHERE job_id = ?"), arguments: [jobID])
                    ?? 0
            if paid >= job.priceMsats {
                if let start {
                    // Queued and started at once: one write of the row.
                    try tx.execute(
                        "UPDATE jobs SET status = 'running', model = ?, backend = ?, started_at = ? WHERE id = ?",
                        [start.model, start.backend, tx.nowText, jobID])
                } else {
                    try tx.execute("UPDATE jobs SET status = 'queued' WHERE id = ?", [jobID])
                }
                released = .queued
            }
        }
        return try tx.journal(
            JournalKind.paymentReceived,
            StoreJSON.object([
                "earning_id": .integer(earningID), "job_id": StoreJSON.text(earning.jobID?.hex), "amount_msats": .integer(earning.amountMsats),
                "source": .string(earning.source.rawValue), "payment_hash": StoreJSON.text(earning.paymentHash), "invoice": .bool(invoice),
                "job_status": StoreJSON.text(released?.rawValue),
            ]))
    }

    static func validatePaymentHash(_ hash: String) throws(PylonStoreError) {
        guard Hex.isLowercase(hash, length: 64) else {
            throw PylonStoreError(.invalidArgument, "payment hash \"\(hash.prefix(80))\" is not 64 lowercase hex characters")
        }
    }

    static func invoiceState(_ db: Database, _ hash: String) throws -> InvoiceState? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM invoices WHERE payment_hash = ?"), arguments: [hash])
            .flatMap(InvoiceState.init(rawValue:))
    }

    static func invoice(_ db: Database, _ hash: String) throws -> Invoice? {
        let statement = try db.cachedStatement(sql: "SELECT \(Invoice.columns) FROM invoices WHERE payment_hash = ?")
        return try Row.fetchOne(statement, arguments: [hash]).map { try Invoice(row: $0) }
    }

    static func insert(_ invoice: Invoice, into db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO invoices (\(Invoice.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").execute(arguments: [
            invoice.paymentHash, invoice.jobID?.hex, invoice.bolt11, invoice.amountMsats, invoice.state.rawValue,
            RFC3339.string(from: invoice.createdAt), invoice.expiresAt.map(RFC3339.string(from:)), invoice.settledAt.map(RFC3339.string(from:)),
        ])
    }

    static func insert(_ earning: Earning, into db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO earnings (\(Earning.columns)) VALUES (?, ?, ?, ?, ?, ?)").execute(arguments: [
            earning.id, earning.jobID?.hex, earning.amountMsats, earning.source.rawValue, earning.paymentHash,
            RFC3339.string(from: earning.receivedAt),
        ])
    }
}

extension Earning {
    static let columns = "id, job_id, amount_msats, source, payment_hash, received_at"

    init(row: Row) throws {
        var r = RowReader(row, table: "earnings")
        self.id = try r.int64()
        self.jobID = try r.optionalEventID()
        self.amountMsats = try r.int64()
        self.source = try r.enumeration(EarningSource.self)
        self.paymentHash = try r.optionalText()
        self.receivedAt = try r.date()
    }
}

extension Invoice {
    static let columns = "payment_hash, job_id, bolt11, amount_msats, state, created_at, expires_at, settled_at"

    init(row: Row) throws {
        var r = RowReader(row, table: "invoices")
        self.paymentHash = try r.text()
        self.jobID = try r.optionalEventID()
        self.bolt11 = try r.text()
        self.amountMsats = try r.int64()
        self.state = try r.enumeration(InvoiceState.self)
        self.createdAt = try r.date()
        self.expiresAt = try r.optionalDate()
        self.settledAt = try r.optionalDate()
    }
}
