import GRDB
import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The state the journal records: jobs, what was seen, invoices, earnings, agents and ticks.
/// ``PylonStore/snapshot()`` reads it from the tables; ``JournalReplay/rebuild(from:)`` derives
/// it from the journal alone; the two are equal (SPEC §7). Buyer jobs are not journaled.
public struct StoreSnapshot: Sendable, Hashable {
    /// By arrival.
    public var jobs: [Job]
    /// By time seen, then id.
    public var processedRequests: [ProcessedRequest]
    /// By payment hash.
    public var invoices: [Invoice]
    /// By id.
    public var earnings: [Earning]
    /// By name.
    public var agents: [Agent]
    /// By id.
    public var ticks: [Tick]
}

/// Rebuilds the recorded state from journal entries, with no database: the proof that the
/// journal carries everything, and the way back when the tables are lost.
public enum JournalReplay {
    /// Applies `records` (in `seq` order) to an empty state. Kinds that record no state of the
    /// store (`daemon.started`, `relay.up`, ...) are skipped. An entry that names a job or
    /// invoice never created, or whose data does not decode, is `corrupt_data`.
    public static func rebuild(from records: some Sequence<JournalRecord>) throws(PylonStoreError) -> StoreSnapshot {
        var state = ReplayState()
        for record in records {
            try state.apply(record)
        }
        return state.snapshot
    }
}

struct ReplayState {
    var lastSeq: Int64 = 0
    var jobs: [EventID: Job] = [:]
    var processed: [EventID: ProcessedRequest] = [:]
    var invoices: [String: Invoice] = [:]
    var earnings: [Earning] = []
    var agents: [String: Agent] = [:]
    var ticks: [Int64: Tick] = [:]

    var snapshot: StoreSnapshot {
        StoreSnapshot(
            jobs: jobs.values.sorted { $0.arrival < $1.arrival },
            processedRequests: processed.values.sorted { ($0.seenAt, $0.eventID.hex) < ($1.seenAt, $1.eventID.hex) },
            invoices: invoices.values.sorted { $0.paymentHash < $1.paymentHash },
            earnings: earnings.sorted { $0.id < $1.id },
            agents: agents.values.sorted { $0.name < $1.name },
            ticks: ticks.values.sorted { $0.id < $1.id })
    }

    func corrupt(_ record: JournalRecord, _ problem: String) -> PylonStoreError {
        PylonStoreError(.corruptData, "journal entry \(record.seq) (\(record.kind)): \(problem)")
    }

    mutating func withJob(_ record: JournalRecord, _ id: EventID, _ change: (inout Job) throws(PylonStoreError) -> Void)
        throws(PylonStoreError)
    {
        guard var job = jobs[id] else { throw corrupt(record, "names job \(id), which was never admitted") }
        try change(&job)
        jobs[id] = job
    }

    mutating func withAgent(_ record: JournalRecord, _ name: String, _ change: (inout Agent) throws(PylonStoreError) -> Void)
        throws(PylonStoreError)
    {
        guard var agent = agents[name] else { throw corrupt(record, "names agent \(name), which does not exist") }
        try change(&agent)
        agent.updatedAt = record.time
        agents[name] = agent
    }

    mutating func apply(_ record: JournalRecord) throws(PylonStoreError) {
        guard record.seq > lastSeq else { throw corrupt(record, "comes after entry \(lastSeq); entries must be in seq order") }
        lastSeq = record.seq
        let r = DataReader(record)
        switch record.kind {
        case JournalKind.jobAdmitted:
            let id = try r.eventID("id")
            guard processed[id] == nil else { throw corrupt(record, "request \(id) was processed before") }
            let params = try r.value("params")
            let request = try r.value("request")
            guard case .object = params, case .object = request else { throw corrupt(record, "params and request must be objects") }
            guard let kind = UInt16(exactly: try r.int64("kind")) else { throw r.fail("kind", "is not an event kind") }
            guard let status = JobStatus(rawValue: try r.string("status")) else { throw r.fail("status", "is not a job status") }
            processed[id] = ProcessedRequest(eventID: id, outcome: ProcessedRequest.admitted, seenAt: record.time)
            jobs[id] = Job(
                id: id, kind: Kind(kind), customer: try r.publicKey("customer"), status: status,
                requestedModel: try r.optionalString("requested_model"), input: try r.string("input"), inputBytes: try r.int("input_bytes"),
                params: params, bidMsats: try r.optionalInt64("bid_msats"), priceMsats: try r.int64("price_msats"),
                encrypted: try r.bool("encrypted"), request: request.serialized, relays: try r.strings("relays"),
                priority: try r.int("priority"), arrival: record.seq, receivedAt: try r.date("received_at"), admittedAt: record.time)

        case JournalKind.jobRejected:
            let id = try r.eventID("id")
            guard processed[id] == nil else { throw corrupt(record, "request \(id) was processed before") }
            processed[id] = ProcessedRequest(eventID: id, outcome: try r.string("reason"), seenAt: record.time)

        case JournalKind.jobStarted:
            let model = try r.string("model")
            let backend = try r.string("backend")
            try withJob(record, try r.eventID("id")) { job in
                job.status = .running
                job.model = model
                job.backend = backend
                job.startedAt = record.time
            }

        case JournalKind.jobCompleted:
            let resultEventID = try r.eventID("result_event_id")
            let promptTokens = try r.optionalInt("prompt_tokens")
            let completionTokens = try r.optionalInt("completion_tokens")
            let outputBytes = try r.optionalInt("output_bytes")
            let durationMs = try r.int("duration_ms")
            try withJob(record, try r.eventID("id")) { job in
                job.status = .completed
                job.finishedAt = record.time
                job.resultEventID = resultEventID
                job.promptTokens = promptTokens
                job.completionTokens = completionTokens
                job.outputBytes = outputBytes
                job.durationMs = durationMs
            }

        case .jobFailed, JournalKind.jobCancelled:
            let reason = try r.string("reason")
            let status: JobStatus = record.kind == JournalKind.jobFailed ? .failed : .cancelled
            try withJob(record, try r.eventID("id")) { job in
                job.status = status
                job.finishedAt = record.time
                job.error = reason
            }

        case JournalKind.jobRequeued:
            try withJob(record, try r.eventID("id")) { job in
                job.status = .queued
                job.model = nil
                job.backend = nil
                job.startedAt = nil
            }

        case JournalKind.invoiceCreated:
            let hash = try r.string("payment_hash")
            guard invoices[hash] == nil else { throw corrupt(record, "invoice \(hash) was created before") }
            invoices[hash] = Invoice(
                paymentHash: hash, jobID: try r.optionalEventID("job_id"), bolt11: try r.string("bolt11"),
                amountMsats: try r.int64("amount_msats"), state: .pending, createdAt: record.time,
                expiresAt: try r.optionalDate("expires_at"), settledAt: nil)

        case JournalKind.invoiceExpired:
            let hash = try r.string("payment_hash")
            guard invoices[hash] != nil else { throw corrupt(record, "invoice \(hash) was never created") }
            invoices[hash]?.state = .expired

        case JournalKind.paymentReceived:
            let hash = try r.optionalString("payment_hash")
            let jobID = try r.optionalEventID("job_id")
            guard let source = EarningSource(rawValue: try r.string("source")) else { throw r.fail("source", "is not a known source") }
            earnings.append(
                Earning(
                    id: try r.int64("earning_id"), jobID: jobID, amountMsats: try r.int64("amount_msats"), source: source,
                    paymentHash: hash, receivedAt: record.time))
            if try r.optionalBool("invoice") == true {
                guard let hash, invoices[hash] != nil else { throw corrupt(record, "settles an invoice that was never created") }
                invoices[hash]?.state = .settled
                invoices[hash]?.settledAt = record.time
            }
            if let text = try r.optionalString("job_status") {
                guard let status = JobStatus(rawValue: text), let jobID else { throw r.fail("job_status", "names no job status") }
                try withJob(record, jobID) { job in job.status = status }
            }

        case JournalKind.agentCreated:
            let name = try r.string("name")
            guard agents[name] == nil else { throw corrupt(record, "agent \(name) exists already") }
            guard let state = AgentState(rawValue: try r.string("state")) else { throw r.fail("state", "is not an agent state") }
            agents[name] = Agent(
                name: name, pubkey: try r.publicKey("pubkey"), state: state, goal: try r.string("goal"),
                heartbeatSecs: try r.int("heartbeat_secs"), tickBudgetMsats: try r.int64("tick_budget_msats"), createdAt: record.time,
                updatedAt: record.time)

        case JournalKind.agentStarted:
            // Entries written before `to` existed made the agent active.
            let to = try r.optionalString("to").flatMap(AgentState.init(rawValue:)) ?? .active
            try withAgent(record, try r.string("name")) { agent in agent.state = to }

        case JournalKind.agentStopped:
            try withAgent(record, try r.string("name")) { agent in agent.state = .stopped }

        case JournalKind.agentStateChanged:
            guard let state = AgentState(rawValue: try r.string("to")) else { throw r.fail("to", "is not an agent state") }
            try withAgent(record, try r.string("name")) { agent in agent.state = state }

        case JournalKind.agentTicked:
            let name = try r.string("name")
            let tick = Tick(
                id: try r.int64("tick_id"), agentName: name, startedAt: try r.date("started_at"), durationMs: try r.int("duration_ms"),
                promptTokens: try r.int("prompt_tokens"), completionTokens: try r.int("completion_tokens"),
                costMsats: try r.int64("cost_msats"), outcome: try r.string("outcome"), note: try r.optionalString("note"),
                provider: try r.optionalString("provider").flatMap { try? PublicKey(hex: $0) },
                noteID: try r.optionalString("note_id").flatMap { try? EventID(hex: $0) })
            try withAgent(record, name) { _ in }
            ticks[tick.id] = tick

        case JournalKind.agentDeleted:
            let name = try r.string("name")
            guard agents.removeValue(forKey: name) != nil else { throw corrupt(record, "agent \(name) does not exist") }
            ticks = ticks.filter { $0.value.agentName != name }

        default:
            break
        }
    }
}

extension PylonStore {
    /// Everything the journal records, read from the tables (see ``StoreSnapshot``), in one read
    /// transaction. For tests, audits and `restore`; it holds every job, so it is not for the hot path.
    public func snapshot() throws(PylonStoreError) -> StoreSnapshot {
        try read("read a snapshot", isolated: true) { db in
            StoreSnapshot(
                jobs: try Row.fetchAll(db, sql: "SELECT \(Job.columns) FROM jobs ORDER BY arrival").map { try Job(row: $0) },
                processedRequests: try Row.fetchAll(
                    db, sql: "SELECT event_id, outcome, seen_at FROM processed_requests ORDER BY seen_at, event_id"
                ).map { try ProcessedRequest(row: $0) },
                invoices: try Row.fetchAll(db, sql: "SELECT \(Invoice.columns) FROM invoices ORDER BY payment_hash").map {
                    try Invoice(row: $0)
                },
                earnings: try Row.fetchAll(db, sql: "SELECT \(Earning.columns) FROM earnings ORDER BY id").map { try Earning(row: $0) },
                agents: try Row.fetchAll(db, sql: "SELECT \(Agent.columns) FROM agents ORDER BY name").map { try Agent(row: $0) },
                ticks: try Row.fetchAll(db, sql: "SELECT \(Tick.columns) FROM tick_history ORDER BY id").map { try Tick(row: $0) })
        }
    }

    /// Fills an empty store from a journal (another node's file, a backup): the entries with their
    /// `seq`, then the state ``JournalReplay`` derives from them, in one transaction. Throws
    /// `invalid_argument` when the store already holds entries or jobs.
    public func restore(from records: [JournalRecord]) throws(PylonStoreError) {
        let state = try JournalReplay.rebuild(from: records)
        try write("restore from the journal") { tx in
            let used = try Int.fetchOne(tx.db, sql: "SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM jobs)") ?? 0
            guard used == 0 else {
                throw PylonStoreError(.invalidArgument, "the database is not empty; restore into a new one")
            }
            let journal = try tx.db.makeStatement(sql: "INSERT INTO journal (seq, time, kind, data) VALUES (?, ?, ?, ?)")
            for record in records {
                guard case .object = record.data else {
                    throw PylonStoreError(.invalidArgument, "journal entry \(record.seq) has data that is not an object")
                }
                try journal.execute(arguments: [record.seq, record.timeText, record.kind.rawValue, record.data.serialized])
            }
            let processed = try tx.db.makeStatement(sql: "INSERT INTO processed_requests (event_id, outcome, seen_at) VALUES (?, ?, ?)")
            for request in state.processedRequests {
                try processed.execute(arguments: [request.eventID.hex, request.outcome, RFC3339.string(from: request.seenAt)])
            }
            for job in state.jobs { try Self.insert(job, into: tx.db) }
            for invoice in state.invoices { try Self.insert(invoice, into: tx.db) }
            for earning in state.earnings { try Self.insert(earning, into: tx.db) }
            let agents = try tx.db.makeStatement(
                sql: """
                    INSERT INTO agents (\(Agent.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for agent in state.agents {
                // The balance is a reading, not journaled state: the agent looks again.
                try agents.execute(arguments: [
                    agent.name, agent.pubkey.hex, agent.state.rawValue, agent.goal, agent.heartbeatSecs, agent.tickBudgetMsats,
                    RFC3339.string(from: agent.createdAt), RFC3339.string(from: agent.updatedAt), nil as Int64?,
                ])
            }
            let ticks = try tx.db.makeStatement(sql: "INSERT INTO tick_history (\(Tick.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            for tick in state.ticks {
                try ticks.execute(arguments: [
                    tick.id, tick.agentName, RFC3339.string(from: tick.startedAt), tick.durationMs, tick.promptTokens, tick.completionTokens,
                    tick.costMsats, tick.outcome, tick.note, tick.provider?.hex, tick.noteID?.hex,
                ])
            }
        }
    }
}
