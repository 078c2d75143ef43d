public import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// The values the store hands out and takes in. Each maps to one table row; the SQL stays in this
// module (STYLE §1), the rest of pylon sees these types only.

// MARK: - Jobs served (provider)

/// Where a job this node serves stands. Stored as the raw value in `jobs.status`.
///
/// ```
/// admit ─▶ queued ─▶ running ─▶ completed
///    │        ▲  │      │  └──▶ failed | cancelled
///    └▶ awaiting_payment (priced: the job waits until payments cover the price)
///             └──────────────▶ failed | cancelled
/// ```
public enum JobStatus: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case queued
    case awaitingPayment = "awaiting_payment"
    case running
    case completed
    case failed
    case cancelled

    /// Completed, failed and cancelled jobs never change again.
    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
    public var description: String { rawValue }
}

/// A NIP-90 request this node admitted, and what became of it: one row of `jobs`.
public struct Job: Sendable, Hashable, Identifiable {
    /// The request event's id.
    public var id: EventID
    public var kind: Kind
    /// The request's author.
    public var customer: PublicKey
    public var status: JobStatus
    /// The `model` param, if the customer named one.
    public var requestedModel: String?
    /// The model and backend that served it, once started.
    public var model: String?
    public var backend: String?
    /// A short form of the input, for people (`pylon jobs`); the full input is in ``request``.
    public var input: String
    /// The input's size in bytes (after decryption).
    public var inputBytes: Int
    /// The request's params as a JSON object (decrypted when the request was encrypted).
    public var params: JSON
    public var bidMsats: Int64?
    /// This node's price when the job was admitted; 0 for a free job.
    public var priceMsats: Int64
    /// The request came encrypted (and its answer goes encrypted).
    public var encrypted: Bool
    /// The request event as compact JSON, kept so a restarted daemon can serve it again.
    public var request: String
    /// The request's `relays` tag: where responses also go.
    public var relays: [String]
    /// The scheduler's priority when the job was admitted.
    public var priority: Int
    /// The `seq` of the job's `job.admitted` entry: arrival order, durable and strictly increasing.
    public var arrival: Int64
    /// When a relay delivered the request.
    public var receivedAt: Date
    public var admittedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var outputBytes: Int?
    public var durationMs: Int?
    /// The result event published for it.
    public var resultEventID: EventID?
    /// Why it failed or was cancelled.
    public var error: String?

    /// The request event, parsed again from ``request``.
    public func requestEvent() throws(NostrError) -> Event {
        try Event(json: request)
    }
}

/// What ``PylonStore/admit(_:)`` needs to know about a request that passed admission.
public struct NewJob: Sendable {
    /// The request (its id, kind, author and creation time are the job's).
    public var request: Event
    public var requestedModel: String?
    public var input: String
    public var inputBytes: Int
    public var params: JSON
    public var bidMsats: Int64?
    /// The price asked. A job with a price starts in `awaiting_payment` and cannot start
    /// before payments for it cover the price.
    public var priceMsats: Int64
    public var encrypted: Bool
    public var relays: [String]
    public var priority: Int
    public var receivedAt: Date

    public init(
        request: Event, requestedModel: String? = nil, input: String, inputBytes: Int, params: JSON = .object([]),
        bidMsats: Int64? = nil, priceMsats: Int64 = 0, encrypted: Bool = false, relays: [String] = [], priority: Int = 0,
        receivedAt: Date
    ) {
        self.request = request
        self.requestedModel = requestedModel
        self.input = input
        self.inputBytes = inputBytes
        self.params = params
        self.bidMsats = bidMsats
        self.priceMsats = priceMsats
        self.encrypted = encrypted
        self.relays = relays
        self.priority = priority
        self.receivedAt = receivedAt
    }
}

/// The model and backend a job runs on: given when it starts (``PylonStore/start(jobID:model:backend:)``),
/// or at admission when a slot is free for it (``PylonStore/admit(_:startingOn:)``).
public struct JobStart: Sendable, Hashable {
    public var model: String
    public var backend: String

    public init(model: String, backend: String) {
        self.model = model
        self.backend = backend
    }
}

/// What ``PylonStore/complete(jobID:_:)`` records about a finished job.
public struct JobCompletion: Sendable {
    public var resultEventID: EventID
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var outputBytes: Int?
    public var durationMs: Int
    /// A payment that came with the result (not through an invoice of this store).
    public var earning: NewEarning?

    public init(
        resultEventID: EventID, promptTokens: Int? = nil, completionTokens: Int? = nil, outputBytes: Int? = nil,
        durationMs: Int, earning: NewEarning? = nil
    ) {
        self.resultEventID = resultEventID
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.outputBytes = outputBytes
        self.durationMs = durationMs
        self.earning = earning
    }
}

/// One request event id seen, with its outcome: one row of `processed_requests`.
public struct ProcessedRequest: Sendable, Hashable {
    /// What ``outcome`` holds for a request that became a job.
    public static let admitted = "admitted"

    public var eventID: EventID
    /// ``admitted`` or the rejection reason.
    public var outcome: String
    public var seenAt: Date
}

// MARK: - Money

/// Where an earning came from. Stored as the raw value in `earnings.source`.
public enum EarningSource: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Payment for a job this node served.
    case job
    /// A NIP-57 zap.
    case zap
    case tip
    case other
    public var description: String { rawValue }
}

/// Money received: one row of `earnings`.
public struct Earning: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var jobID: EventID?
    public var amountMsats: Int64
    public var source: EarningSource
    /// The Lightning payment hash (hex), unique over all earnings: nobody's payment counts twice.
    public var paymentHash: String?
    public var receivedAt: Date
}

/// A payment to record.
public struct NewEarning: Sendable, Hashable {
    public var amountMsats: Int64
    public var source: EarningSource
    public var paymentHash: String?
    public var jobID: EventID?

    public init(amountMsats: Int64, source: EarningSource = .job, paymentHash: String? = nil, jobID: EventID? = nil) {
        self.amountMsats = amountMsats
        self.source = source
        self.paymentHash = paymentHash
        self.jobID = jobID
    }
}

/// A Lightning invoice's state. Stored as the raw value in `invoices.state`.
public enum InvoiceState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case pending
    case settled
    case expired
    case failed
    public var description: String { rawValue }
}

/// An invoice this node issued: one row of `invoices`.
public struct Invoice: Sendable, Hashable {
    public var paymentHash: String
    public var jobID: EventID?
    public var bolt11: String
    public var amountMsats: Int64
    public var state: InvoiceState
    public var createdAt: Date
    public var expiresAt: Date?
    public var settledAt: Date?
}

/// An invoice the wallet just made.
public struct NewInvoice: Sendable, Hashable {
    public var paymentHash: String
    public var jobID: EventID?
    public var bolt11: String
    public var amountMsats: Int64
    public var expiresAt: Date?

    public init(paymentHash: String, jobID: EventID?, bolt11: String, amountMsats: Int64, expiresAt: Date? = nil) {
        self.paymentHash = paymentHash
        self.jobID = jobID
        self.bolt11 = bolt11
        self.amountMsats = amountMsats
        self.expiresAt = expiresAt
    }
}

/// Earnings in the windows `pylon earnings` and `status` show.
public struct EarningsSummary: Sendable, Hashable {
    /// Since midnight UTC of `now`.
    public var todayMsats: Int64
    /// In the 7 × 24 hours up to `now`.
    public var weekMsats: Int64
    public var totalMsats: Int64
    /// Number of earnings, all time.
    public var count: Int
    /// All-time msats per source; sources without earnings are absent.
    public var bySource: [EarningSource: Int64]
    /// All-time msats per kind of the job paid for.
    public var byKind: [Kind: Int64] = [:]
}

/// The totals a daemon loads at start (`jobs_completed`, `earnings_msats` in Status).
public struct StoreStatistics: Sendable, Hashable {
    public var jobsCompleted: Int
    public var jobsFailed: Int
    public var jobsCancelled: Int
    /// Queued, awaiting payment or running.
    public var jobsUnfinished: Int
    public var earningsMsats: Int64
    public var earningsCount: Int
    /// The journal's last `seq`, 0 when empty.
    public var lastSeq: Int64
}

// MARK: - Agents (host mode)

/// An agent's lifecycle state (SPEC §9). Stored as the raw value in `agents.state`.
public enum AgentState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Created, not funded yet.
    case spawning
    case active
    /// Funded for less than 7 days of ticks.
    case lowBalance = "low_balance"
    /// No funds; revived by funding.
    case dormant
    /// Stopped by its owner.
    case stopped
    public var description: String { rawValue }
}

/// A hosted agent: one row of `agents`.
public struct Agent: Sendable, Hashable, Identifiable {
    public var name: String
    public var pubkey: PublicKey
    public var state: AgentState
    public var goal: String
    public var heartbeatSecs: Int
    public var tickBudgetMsats: Int64
    public var createdAt: Date
    public var updatedAt: Date
    /// What its wallet held when the agent last looked; nil without a wallet or before it looked.
    public var balanceMsats: Int64?
    public var id: String { name }
}

/// An agent to create.
public struct NewAgent: Sendable, Hashable {
    /// 1 to 64 of `A-Z a-z 0-9 _ -`: the name is part of file paths (`logs/agents/NAME.log`).
    public var name: String
    public var pubkey: PublicKey
    public var goal: String
    public var heartbeatSecs: Int
    public var tickBudgetMsats: Int64
    public var state: AgentState

    public init(
        name: String, pubkey: PublicKey, goal: String, heartbeatSecs: Int, tickBudgetMsats: Int64, state: AgentState = .spawning
    ) {
        self.name = name
        self.pubkey = pubkey
        self.goal = goal
        self.heartbeatSecs = heartbeatSecs
        self.tickBudgetMsats = tickBudgetMsats
        self.state = state
    }
}

/// One agent tick: one row of `tick_history`.
public struct Tick: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var agentName: String
    public var startedAt: Date
    public var durationMs: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var costMsats: Int64
    /// A short word (`ok`, `error`, `skipped`, ...).
    public var outcome: String
    public var note: String?
    /// The provider that answered the tick's request.
    public var provider: PublicKey?
    /// The note (kind 1) the tick published.
    public var noteID: EventID?
}

/// A tick to record.
public struct NewTick: Sendable, Hashable {
    public var agentName: String
    public var startedAt: Date
    public var durationMs: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var costMsats: Int64
    public var outcome: String
    public var note: String?
    public var provider: PublicKey?
    public var noteID: EventID?

    public init(
        agentName: String, startedAt: Date, durationMs: Int, promptTokens: Int = 0, completionTokens: Int = 0,
        costMsats: Int64 = 0, outcome: String, note: String? = nil, provider: PublicKey? = nil, noteID: EventID? = nil
    ) {
        self.provider = provider
        self.noteID = noteID
        self.agentName = agentName
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costMsats = costMsats
        self.outcome = outcome
        self.note = note
    }
}

// MARK: - Jobs bought (buyer)

/// Where a job this node submitted stands. Stored as the raw value in `buyer_jobs.status`.
public enum BuyerJobStatus: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case submitted
    case processing
    case paymentRequired = "payment_required"
    case completed
    case error
    case timeout

    public var isFinished: Bool { self == .completed || self == .error || self == .timeout }
    public var description: String { rawValue }
}

/// One kind 7000 feedback event a buyer saw, in arrival order.
public struct BuyerFeedback: Sendable, Hashable {
    public var status: FeedbackStatus
    public var provider: PublicKey?
    /// The status text or partial output.
    public var message: String?
    public var amountMsats: Int64?
    public var bolt11: String?
    public var time: Date

    public init(
        status: FeedbackStatus, provider: PublicKey? = nil, message: String? = nil, amountMsats: Int64? = nil, bolt11: String? = nil,
        time: Date
    ) {
        self.status = status
        self.provider = provider
        self.message = message
        self.amountMsats = amountMsats
        self.bolt11 = bolt11
        self.time = time
    }
}

/// A job this node submitted to the market: one row of `buyer_jobs`.
public struct BuyerJob: Sendable, Hashable, Identifiable {
    /// The request event's id.
    public var id: EventID
    public var kind: Kind
    /// The provider the request was addressed to (`p` tag); nil for an open request.
    public var provider: PublicKey?
    public var prompt: String
    public var params: JSON
    public var bidMsats: Int64?
    public var encrypted: Bool
    public var relays: [String]
    public var status: BuyerJobStatus
    /// The result's content.
    public var result: String?
    public var resultEventID: EventID?
    /// The provider whose result was taken.
    public var answeredBy: PublicKey?
    public var feedback: [BuyerFeedback]
    public var amountPaidMsats: Int64
    /// The invoice this job is paid (or being paid) with; set before the payment is sent.
    public var paymentHash: String?
    /// The provider's error or the timeout, for people.
    public var error: String?
    public var createdAt: Date
    /// Set by the store on every save.
    public var updatedAt: Date

    public init(
        id: EventID, kind: Kind, provider: PublicKey? = nil, prompt: String, params: JSON = .object([]), bidMsats: Int64? = nil,
        encrypted: Bool = false, relays: [String] = [], status: BuyerJobStatus = .submitted, result: String? = nil,
        resultEventID: EventID? = nil, answeredBy: PublicKey? = nil, feedback: [BuyerFeedback] = [], amountPaidMsats: Int64 = 0,
        paymentHash: String? = nil, error: String? = nil, createdAt: Date, updatedAt: Date? = nil
    ) {
        self.paymentHash = paymentHash
        self.id = id
        self.kind = kind
        self.provider = provider
        self.prompt = prompt
        self.params = params
        self.bidMsats = bidMsats
        self.encrypted = encrypted
        self.relays = relays
        self.status = status
        self.result = result
        self.resultEventID = resultEventID
        self.answeredBy = answeredBy
        self.feedback = feedback
        self.amountPaidMsats = amountPaidMsats
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }
}
