/// The name of a journal entry's kind, such as `job.admitted`, listed once for the store that
/// writes the entries and the control protocol that serves them. Kinds never change meaning once
/// shipped (SPEC §12); new ones are added.
///
/// Times inside `data` are RFC 3339 text like the entry's `time`; ids, keys and payment hashes are
/// lowercase hex; optional members are present with `null`.
public struct JournalKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    // Daemon-level kinds: they record no state of the store and go through `PylonStore.append`.

    /// The daemon started. `pid`, `version`, `mode`, `pubkey`.
    public static let daemonStarted: JournalKind = "daemon.started"
    /// A graceful shutdown began. `pid`.
    public static let shutdownBegin: JournalKind = "shutdown.begin"
    /// A graceful shutdown finished. `pid`.
    public static let shutdownComplete: JournalKind = "shutdown.complete"
    /// A reload applied. `trigger` (`sighup`, `command`, `file`), `message`.
    public static let configReloaded: JournalKind = "config.reloaded"
    /// A reload was refused; the running configuration stays. `trigger`, `message`.
    public static let configReloadFailed: JournalKind = "config.reload_failed"
    /// A relay connected. `url`.
    public static let relayUp: JournalKind = "relay.up"
    /// A relay's connection ended. `url`, `error`.
    public static let relayDown: JournalKind = "relay.down"
    /// A backend became ready. `backend`, `url`, `models`, `reason`.
    public static let backendUp: JournalKind = "backend.up"
    /// A backend stopped answering. `backend`, `url`, `models`, `reason`.
    public static let backendDown: JournalKind = "backend.down"

    /// A wallet notification of a payment that no job of this node waits for (an invoice made
    /// outside a job, or one no longer waiting): `payment_hash`, `amount_msats`, `reason`. It
    /// changes no balance and no job.
    public static let paymentUnmatched: JournalKind = "payment.unmatched"

    /// The buyer (or an agent) paid a provider's invoice for a job. `job_id`, `provider`,
    /// `amount_msats`, `payment_hash`.
    public static let paymentSent: JournalKind = "payment.sent"
    /// The buyer (or an agent) did not pay a provider's invoice: the invoice failed a check (amount,
    /// limit, bid, expiry, another invoice for the job) or the wallet could not pay. `job_id`,
    /// `provider`, `amount_msats`, `payment_hash` (null when the invoice did not decode), `reason`.
    public static let paymentRefused: JournalKind = "payment.refused"

    // Store kinds: each is written with the state it records, in the same transaction.

    /// A request for this node arrived and was decided on; the `job.admitted` or `job.rejected`
    /// that follows in the same transaction says how. `id`, `kind`, `customer`, `created_at`.
    public static let jobReceived: JournalKind = "job.received"
    /// A request became a job. `id`, `kind`, `customer`, `status` (`queued` or
    /// `awaiting_payment`), `requested_model`, `input`, `input_bytes`, `params`, `bid_msats`,
    /// `price_msats`, `encrypted`, `relays`, `priority`, `received_at`, `request` (the event).
    /// The entry's `seq` is the job's arrival; its time, the job's `admitted_at`.
    public static let jobAdmitted: JournalKind = "job.admitted"
    /// A request was turned away. `id`, `reason`, and what the caller added.
    public static let jobRejected: JournalKind = "job.rejected"
    /// `id`, `model`, `backend`.
    public static let jobStarted: JournalKind = "job.started"
    /// `id`, `result_event_id`, `prompt_tokens`, `completion_tokens`, `output_bytes`, `duration_ms`.
    /// A payment that came with the result follows as a `payment.received` in the same transaction.
    public static let jobCompleted: JournalKind = "job.completed"
    /// `id`, `reason`, `from` (the status it left).
    public static let jobFailed: JournalKind = "job.failed"
    /// `id`, `reason`, `from`.
    public static let jobCancelled: JournalKind = "job.cancelled"
    /// A running job put back in the queue (a restart interrupted it). `id`, `reason`, `from`.
    public static let jobRequeued: JournalKind = "job.requeued"
    /// `payment_hash`, `job_id`, `bolt11`, `amount_msats`, `expires_at`.
    public static let invoiceCreated: JournalKind = "invoice.created"
    /// `payment_hash`, `job_id`. When the job was still waiting for this payment, a `job.failed`
    /// follows in the same transaction.
    public static let invoiceExpired: JournalKind = "invoice.expired"
    /// `earning_id`, `job_id`, `amount_msats`, `source`, `payment_hash`, `invoice` (true when it
    /// settled an invoice of this store), `job_status` (the job's new status when the payment
    /// released it from `awaiting_payment`, else null).
    public static let paymentReceived: JournalKind = "payment.received"
    /// `name`, `pubkey`, `state`, `goal`, `heartbeat_secs`, `tick_budget_msats`.
    public static let agentCreated: JournalKind = "agent.created"
    /// `name`, `from`, `to`, `pid` (null when its owner started it and no process runs yet).
    public static let agentStarted: JournalKind = "agent.started"
    /// `name`, `from`, `reason`.
    public static let agentStopped: JournalKind = "agent.stopped"
    /// `name`, `from`, `to`, `reason`.
    public static let agentStateChanged: JournalKind = "agent.state_changed"
    /// `name`, `tick_id`, `started_at`, `duration_ms`, `prompt_tokens`, `completion_tokens`,
    /// `tokens`, `cost_msats`, `provider`, `note_id`, `outcome`, `note`.
    public static let agentTicked: JournalKind = "agent.ticked"
    /// `name`, `ticks` (how many tick rows went with it).
    public static let agentDeleted: JournalKind = "agent.deleted"
    /// An agent's process ended without being asked to: `name`, `exit` or `signal`, `restarts`,
    /// `restart_in_secs` (the backoff before the next start). Written by the supervisor.
    public static let agentCrashed: JournalKind = "agent.crashed"

    /// Kinds that only the store writes, because each records a state change; the store's
    /// `append` refuses them.
    public static let stateKinds: Set<JournalKind> = [
        jobReceived, jobAdmitted, jobRejected, jobStarted, jobCompleted, jobFailed, jobCancelled, jobRequeued, invoiceCreated,
        invoiceExpired, paymentReceived, agentCreated, agentStarted, agentStopped, agentStateChanged, agentTicked, agentDeleted,
    ]
}
