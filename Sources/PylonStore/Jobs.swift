import GRDB
public import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The provider's job path (STYLE §3): admission, start, completion, failure, cancellation. Each
// method is one short write transaction on the hot path: one or two cached statements for the row,
// one for the journal.

extension PylonStore {
    // MARK: - Admission and dedupe

    /// True when the request event was seen before, admitted or rejected, in this run or an
    /// earlier one. Called for every inbound request: one indexed lookup.
    public func hasProcessed(_ eventID: EventID) throws(PylonStoreError) -> Bool {
        // On the writer's connection, whose page cache stays warm across the admissions around
        // this lookup; a reader connection drops its cache after every commit and reads the pages
        // again. The lookup waits at most for one short write transaction.
        do {
            return try writer.writeWithoutTransaction { db in
                try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM processed_requests WHERE event_id = ?)"),
                    arguments: [eventID.hex]) ?? false
            }
        } catch {
            throw Self.wrap(error, "look up request \(eventID)")
        }
    }

    /// The outcome recorded for a request event, if it was seen.
    public func processedRequest(_ eventID: EventID) throws(PylonStoreError) -> ProcessedRequest? {
        try read("look up a request") { db in
            let statement = try db.cachedStatement(
                sql: "SELECT event_id, outcome, seen_at FROM processed_requests WHERE event_id = ?")
            return try Row.fetchOne(statement, arguments: [eventID.hex]).map { try ProcessedRequest(row: $0) }
        }
    }

    /// Records a request that passed admission: marks its id seen, inserts the job (`queued`, or
    /// `awaiting_payment` when it has a price) and appends `job.received` and `job.admitted`, in
    /// one transaction.
    ///
    /// With `start` (a free job that has a slot now), the job also starts in that transaction:
    /// it is `running` on that model and backend and `job.started` follows `job.admitted`, as if
    /// ``start(jobID:model:backend:)`` had come right after, with one write instead of two.
    ///
    /// Throws `duplicate` when the id was seen before (two relays delivering the same request at
    /// once: the second admission fails and changes nothing).
    @discardableResult
    public func admit(_ job: NewJob, startingOn start: JobStart? = nil) throws(PylonStoreError) -> JournalRecord {
        let request = job.request
        guard request.kind.isJobRequest else {
            throw PylonStoreError(.invalidArgument, "event \(request.id) is of kind \(request.kind), not a NIP-90 job request (5000-5999)")
        }
        guard job.inputBytes >= 0, job.priceMsats >= 0, (job.bidMsats ?? 0) >= 0 else {
            throw PylonStoreError(.invalidArgument, "job \(request.id): input size, price and bid must not be negative")
        }
        guard case .object = job.params else {
            throw PylonStoreError(.invalidArgument, "job \(request.id): params must be a JSON object, got \(job.params.typeDescription)")
        }
        if let start {
            guard job.priceMsats == 0 else {
                throw PylonStoreError(.invalidArgument, "job \(request.id) has a price; it cannot start before it is paid")
            }
            guard !start.model.isEmpty, !start.backend.isEmpty else {
                throw PylonStoreError(.invalidArgument, "job \(request.id): starting needs a model and a backend")
            }
        }
        let id = request.id.hex
        let status: JobStatus = job.priceMsats > 0 ? .awaitingPayment : .queued
        let receivedAt = RFC3339.rounded(job.receivedAt)
        let requestText = request.jsonString
        var members: [JSON.Member] = [
            .init("id", .string(id)),
            .init("kind", .integer(Int64(request.kind.rawValue))),
            .init("customer", .string(request.pubkey.hex)),
            .init("status", .string(status.rawValue)),
            .init("requested_model", StoreJSON.text(job.requestedModel)),
            .init("input", .string(job.input)),
            .init("input_bytes", StoreJSON.int(job.inputBytes)),
            .init("params", job.params),
            .init("bid_msats", StoreJSON.int(job.bidMsats)),
            .init("price_msats", .integer(job.priceMsats)),
            .init("encrypted", .bool(job.encrypted)),
            .init("relays", StoreJSON.strings(job.relays)),
            .init("priority", StoreJSON.int(job.priority)),
            .init("received_at", StoreJSON.time(receivedAt)),
        ]
        // The request goes last, and its text is written once (Event's own writer gives the same
        // bytes as serializing its JSON value) for both the journal and the row.
        var text = JSON.object(members).serialized
        text.removeLast()
        text += #","request":"# + requestText + "}"
        members.append(.init("request", StoreJSON.event(request)))
        let data = JSON.object(members)
        return try write("admit job \(id)") { tx in
            try tx.execute(
                "INSERT INTO processed_requests (event_id, outcome, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [id, ProcessedRequest.admitted, tx.nowText])
            guard tx.db.changesCount == 1 else {
                throw PylonStoreError(.duplicate, "request \(id) was already processed; it is not admitted twice")
            }
            _ = try tx.journal(.jobReceived, Self.received(request))
            let record = try tx.journal(.jobAdmitted, data, text: text)
            var row = Job(
                id: request.id, kind: request.kind, customer: request.pubkey, status: status, requestedModel: job.requestedModel,
                input: job.input, inputBytes: job.inputBytes, params: job.params, bidMsats: job.bidMsats,
                priceMsats: job.priceMsats, encrypted: job.encrypted, request: requestText, relays: job.relays,
                priority: job.priority, arrival: record.seq, receivedAt: receivedAt, admittedAt: tx.now)
            if let start {
                row.status = .running
                row.model = start.model
                row.backend = start.backend
                row.startedAt = tx.now
            }
            try Self.insert(row, into: tx.db)
            if let start { _ = try tx.journal(.jobStarted, Self.started(id, start)) }
            return record
        }
    }

    /// Records a request turned away: marks its id seen with `reason` as the outcome and appends
    /// `job.rejected` with `id`, `reason` and the members of `data` (an object), preceded by
    /// `job.received` when the request event is given. Throws `duplicate` when the id was seen
    /// before.
    @discardableResult
    public func recordRejection(eventID: EventID, reason: String, data: JSON = .object([]), request: Event? = nil) throws(PylonStoreError) -> JournalRecord {
        guard !reason.isEmpty, reason != ProcessedRequest.admitted else {
            throw PylonStoreError(.invalidArgument, "a rejection needs a reason other than \"\(ProcessedRequest.admitted)\"")
        }
        guard case .object(let extra) = data else {
            throw PylonStoreError(.invalidArgument, "rejection data must be a JSON object, got \(data.typeDescription)")
        }
        let id = eventID.hex
        let members = [JSON.Member("id", .string(id)), JSON.Member("reason", .string(reason))]
            + extra.filter { $0.key != "id" && $0.key != "reason" }
        return try write("record the rejection of \(id)") { tx in
            try tx.execute(
                "INSERT INTO processed_requests (event_id, outcome, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [id, reason, tx.nowText])
            guard tx.db.changesCount == 1 else {
                throw PylonStoreError(.duplicate, "request \(id) was already processed")
            }
            if let request { _ = try tx.journal(.jobReceived, Self.received(request)) }
            return try tx.journal(.jobRejected, .object(members))
        }
    }

    static func received(_ request: Event) -> JSON {
        .object([
            .init("id", .string(request.id.hex)), .init("kind", .integer(Int64(request.kind.rawValue))),
            .init("customer", .string(request.pubkey.hex)), .init("created_at", .integer(request.createdAt)),
        ])
    }

    // MARK: - Transitions

    /// `queued` → `running` with the model and backend that serve it; appends `job.started`.
    /// A priced job is `awaiting_payment` until paid, so it cannot start unpaid.
    @discardableResult
    public func start(jobID: EventID, model: String, backend: String) throws(PylonStoreError) -> JournalRecord {
        guard !model.isEmpty, !backend.isEmpty else {
            throw PylonStoreError(.invalidArgument, "job \(jobID): starting needs a model and a backend")
        }
        let id = jobID.hex
        return try write("start job \(id)") { tx in
            try tx.execute(
                "UPDATE jobs SET status = 'running', model = ?, backend = ?, started_at = ? WHERE id = ? AND status = 'queued'",
                [model, backend, tx.nowText, id])
            if tx.db.changesCount == 0 { try Self.refuse(tx, id, to: "start", allowed: [.queued]) }
            return try tx.journal(.jobStarted, Self.started(id, JobStart(model: model, backend: backend)))
        }
    }

    /// `job.started`'s data.
    static func started(_ id: String, _ start: JobStart) -> JSON {
        StoreJSON.object(["id": .string(id), "model": .string(start.model), "backend": .string(start.backend)])
    }

    /// `running` → `completed` with the result's metadata; appends `job.completed`, and when the
    /// completion carries a payment, the earning and its `payment.received`, in one transaction.
    /// Completing a job twice, or one that is not running, is `invalid_transition`.
    @discardableResult
    public func complete(jobID: EventID, _ completion: JobCompletion) throws(PylonStoreError) -> [JournalRecord] {
        let id = jobID.hex
        guard completion.durationMs >= 0, (completion.promptTokens ?? 0) >= 0, (completion.completionTokens ?? 0) >= 0,
            (completion.outputBytes ?? 0) >= 0
        else {
            throw PylonStoreError(.invalidArgument, "job \(id): tokens, output size and duration must not be negative")
        }
        var earning = completion.earning
        if let given = earning?.jobID, given != jobID {
            throw PylonStoreError(.invalidArgument, "job \(id): the payment with its result names another job, \(given)")
        }
        earning?.jobID = jobID
        let data = StoreJSON.object([
            "id": .string(id),
            "result_event_id": .string(completion.resultEventID.hex),
            "prompt_tokens": StoreJSON.int(completion.promptTokens),
            "completion_tokens": StoreJSON.int(completion.completionTokens),
            "output_bytes": StoreJSON.int(completion.outputBytes),
            "duration_ms": StoreJSON.int(completion.durationMs),
        ])
        return try write("complete job \(id)") { tx in
            try tx.execute(
                """
                UPDATE jobs SET status = 'completed', finished_at = ?, prompt_tokens = ?, completion_tokens = ?,
                    output_bytes = ?, duration_ms = ?, result_event_id = ? WHERE id = ? AND status = 'running'
                """,
                [
                    tx.nowText, completion.promptTokens, completion.completionTokens, completion.outputBytes,
                    completion.durationMs, completion.resultEventID.hex, id,
                ])
            if tx.db.changesCount == 0 { try Self.refuse(tx, id, to: "complete", allowed: [.running]) }
            var records = [try tx.journal(.jobCompleted, data)]
            if let earning {
                records.append(try Self.recordPayment(tx, earning, invoice: false))
            }
            return records
        }
    }

    /// `queued`, `awaiting_payment` or `running` → `failed` with a reason for people; appends `job.failed`.
    @discardableResult
    public func fail(jobID: EventID, reason: String) throws(PylonStoreError) -> JournalRecord {
        try finish(jobID: jobID, as: .failed, reason: reason, verb: "fail", kind: .jobFailed)
    }

    /// `queued`, `awaiting_payment` or `running` → `cancelled` (a kind 5 deletion by the customer,
    /// a shutdown); appends `job.cancelled`.
    @discardableResult
    public func cancel(jobID: EventID, reason: String) throws(PylonStoreError) -> JournalRecord {
        try finish(jobID: jobID, as: .cancelled, reason: reason, verb: "cancel", kind: .jobCancelled)
    }

    /// `running` → `queued`, forgetting the model and backend: for a job a restart interrupted
    /// that will run again. Appends `job.requeued`.
    @discardableResult
    public func requeue(jobID: EventID, reason: String) throws(PylonStoreError) -> JournalRecord {
        guard !reason.isEmpty else { throw PylonStoreError(.invalidArgument, "job \(jobID): requeueing needs a reason") }
        let id = jobID.hex
        return try write("requeue job \(id)") { tx in
            let from = try Self.requireJob(tx, id, to: "requeue", allowed: [.running])
            try tx.execute(
                "UPDATE jobs SET status = 'queued', model = NULL, backend = NULL, started_at = NULL WHERE id = ?", [id])
            return try tx.journal(
                .jobRequeued, StoreJSON.object(["id": .string(id), "reason": .string(reason), "from": .string(from.status.rawValue)]))
        }
    }

    func finish(jobID: EventID, as status: JobStatus, reason: String, verb: String, kind: JournalKind) throws(PylonStoreError)
        -> JournalRecord
    {
        guard !reason.isEmpty else { throw PylonStoreError(.invalidArgument, "job \(jobID): to \(verb) it needs a reason") }
        let id = jobID.hex
        return try write("\(verb) job \(id)") { tx in
            let from = try Self.requireJob(tx, id, to: verb, allowed: [.queued, .awaitingPayment, .running])
            try Self.finishJob(tx, id, status: status, reason: reason)
            return try tx.journal(kind, StoreJSON.object(["id": .string(id), "reason": .string(reason), "from": .string(from.status.rawValue)]))
        }
    }

    static func finishJob(_ tx: WriteContext, _ id: String, status: JobStatus, reason: String) throws {
        try tx.execute("UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?", [status.rawValue, tx.nowText, reason, id])
    }

    /// Explains why a conditional UPDATE changed nothing: `not_found` or `invalid_transition`.
    static func refuse(_ tx: WriteContext, _ id: String, to verb: String, allowed: Set<JobStatus>) throws -> Never {
        _ = try requireJob(tx, id, to: verb, allowed: allowed)
        throw PylonStoreError(.database, "cannot \(verb) job \(id): the update did not apply")
    }

    /// A job's status and price, or `not_found`; `invalid_transition` unless its status is allowed.
    static func requireJob(_ tx: WriteContext, _ id: String, to verb: String, allowed: Set<JobStatus>) throws -> (
        status: JobStatus, priceMsats: Int64
    ) {
        guard let row = try Row.fetchOne(tx.db.cachedStatement(sql: "SELECT status, price_msats FROM jobs WHERE id = ?"), arguments: [id])
        else {
            throw PylonStoreError(.notFound, "cannot \(verb) job \(id): no such job")
        }
        var reader = RowReader(row, table: "jobs")
        let status = try reader.enumeration(JobStatus.self)
        let price = try reader.int64()
        guard allowed.contains(status) else {
            let expected = JobStatus.allCases.filter(allowed.contains).map(\.rawValue).joined(separator: " or ")
            throw PylonStoreError(.invalidTransition, "cannot \(verb) job \(id): it is \(status.rawValue), not \(expected)")
        }
        return (status, price)
    }

    // MARK: - Reads

    /// One job, or nil.
    public func job(id: EventID) throws(PylonStoreError) -> Job? {
        try read("read job \(id)") { db in
            let statement = try db.cachedStatement(sql: "SELECT \(Job.columns) FROM jobs WHERE id = ?")
            return try Row.fetchOne(statement, arguments: [id.hex]).map { try Job(row: $0) }
        }
    }

    /// The newest jobs first (by arrival), optionally of one status (`pylon jobs --status S --limit N`).
    public func jobs(status: JobStatus? = nil, limit: Int = 50) throws(PylonStoreError) -> [Job] {
        try read("list jobs") { db in
            let limit = max(limit, 0)
            if let status {
                let statement = try db.cachedStatement(
                    sql: "SELECT \(Job.columns) FROM jobs WHERE status = ? ORDER BY arrival DESC LIMIT ?")
                return try Row.fetchAll(statement, arguments: [status.rawValue, limit]).map { try Job(row: $0) }
            }
            let statement = try db.cachedStatement(sql: "SELECT \(Job.columns) FROM jobs ORDER BY arrival DESC LIMIT ?")
            return try Row.fetchAll(statement, arguments: [limit]).map { try Job(row: $0) }
        }
    }

    /// The jobs a crash or stop left open (`queued`, `awaiting_payment`, `running`), oldest first:
    /// what a starting daemon recovers.
    public func unfinishedJobs() throws(PylonStoreError) -> [Job] {
        try read("list unfinished jobs") { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT \(Job.columns) FROM jobs WHERE status IN ('queued', 'awaiting_payment', 'running')
                    ORDER BY arrival
                    """)
            return try Row.fetchAll(statement).map { try Job(row: $0) }
        }
    }

    static func insert(_ job: Job, into db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (\(Job.columns))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        let values: [(any DatabaseValueConvertible)?] = [
            job.id.hex, Int64(job.kind.rawValue), job.customer.hex, job.status.rawValue, job.requestedModel, job.model,
            job.backend, job.input, job.inputBytes, job.params.serialized, job.bidMsats, job.priceMsats, job.encrypted,
            job.request, StoreJSON.strings(job.relays).serialized, job.priority, job.arrival, RFC3339.string(from: job.receivedAt),
            RFC3339.string(from: job.admittedAt), job.startedAt.map(RFC3339.string(from:)), job.finishedAt.map(RFC3339.string(from:)),
            job.promptTokens, job.completionTokens, job.outputBytes, job.durationMs, job.resultEventID?.hex, job.error,
        ]
        try statement.execute(arguments: StatementArguments(values))
    }
}

extension Job {
    /// The select list every job query uses, in ``init(row:)``'s order.
    static let columns = """
        id, kind, customer, status, requested_model, model, backend, input, input_bytes, params, bid_msats, \
        price_msats, encrypted, request, relays, priority, arrival, received_at, admitted_at, started_at, \
        finished_at, prompt_tokens, completion_tokens, output_bytes, duration_ms, result_event_id, error
        """

    init(row: Row) throws {
        var r = RowReader(row, table: "jobs")
        self.id = try r.eventID()
        self.kind = try r.kind()
        self.customer = try r.publicKey()
        self.status = try r.enumeration(JobStatus.self)
        self.requestedModel = try r.optionalText()
        self.model = try r.optionalText()
        self.backend = try r.optionalText()
        self.input = try r.text()
        self.inputBytes = try r.int()
        self.params = try r.json()
        self.bidMsats = try r.optionalInt64()
        self.priceMsats = try r.int64()
        self.encrypted = try r.bool()
        self.request = try r.text()
        self.relays = try r.strings()
        self.priority = try r.int()
        self.arrival = try r.int64()
        self.receivedAt = try r.date()
        self.admittedAt = try r.date()
        self.startedAt = try r.optionalDate()
        self.finishedAt = try r.optionalDate()
        self.promptTokens = try r.optionalInt()
        self.completionTokens = try r.optionalInt()
        self.outputBytes = try r.optionalInt()
        self.durationMs = try r.optionalInt()
        self.resultEventID = try r.optionalEventID()
        self.error = try r.optionalText()
    }

    /// A job just admitted, before anything else happened to it.
    init(
        id: EventID, kind: Kind, customer: PublicKey, status: JobStatus, requestedModel: String?, input: String, inputBytes: Int,
        params: JSON, bidMsats: Int64?, priceMsats: Int64, encrypted: Bool, request: String, relays: [String], priority: Int,
        arrival: Int64, receivedAt: Date, admittedAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.customer = customer
        self.status = status
        self.requestedModel = requestedModel
        self.input = input
        self.inputBytes = inputBytes
        self.params = params
        self.bidMsats = bidMsats
        self.priceMsats = priceMsats
        self.encrypted = encrypted
        self.request = request
        self.relays = relays
        self.priority = priority
        self.arrival = arrival
        self.receivedAt = receivedAt
        self.admittedAt = admittedAt
    }
}

extension ProcessedRequest {
    init(row: Row) throws {
        var r = RowReader(row, table: "processed_requests")
        self.eventID = try r.eventID()
        self.outcome = try r.text()
        self.seenAt = try r.date()
    }
}

extension Job {
    /// The job as `pylon jobs --json` prints it and `GET /api/jobs` serves it: what was asked for
    /// and what became of it, never the input itself.
    public var summaryJSON: JSON {
        func optional(_ value: Int?) -> JSON { value.map { .integer(Int64($0)) } ?? .null }
        func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
        func optional(_ value: Date?) -> JSON { value.map { .string(RFC3339.string(from: $0)) } ?? .null }
        return .object([
            .init("id", .string(id.hex)), .init("kind", .integer(Int64(kind.rawValue))), .init("customer", .string(customer.hex)),
            .init("status", .string(status.rawValue)), .init("requested_model", optional(requestedModel)), .init("model", optional(model)),
            .init("backend", optional(backend)), .init("input_bytes", .integer(Int64(inputBytes))),
            .init("bid_msats", bidMsats.map { .integer($0) } ?? .null), .init("price_msats", .integer(priceMsats)),
            .init("encrypted", .bool(encrypted)), .init("received_at", .string(RFC3339.string(from: receivedAt))),
            .init("started_at", optional(startedAt)), .init("finished_at", optional(finishedAt)),
            .init("prompt_tokens", optional(promptTokens)), .init("completion_tokens", optional(completionTokens)),
            .init("duration_ms", optional(durationMs)), .init("result_event_id", optional(resultEventID?.hex)), .init("error", optional(error)),
        ])
    }
}
