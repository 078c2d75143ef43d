import Backends
import NostrCore
import PylonStore

/// Where one of the provider's jobs stands (SPEC §8):
///
///     received → admitted → awaiting_payment → paid → queued → running → answered
///
/// and, off that path, `rejected`, `expired` (an invoice left unpaid), `cancelled` (the customer,
/// by kind 5) and `failed`. A free job skips the payment; a free job that finds a slot free as it is
/// admitted starts at once. The last five phases are final.
public enum JobPhase: String, Sendable, CaseIterable {
    case received
    case admitted
    case awaitingPayment = "awaiting_payment"
    case paid
    case queued
    case running
    case answered
    case rejected
    case expired
    case cancelled
    case failed

    /// Whether a job in this phase may move to `next`.
    public func allows(_ next: JobPhase) -> Bool {
        switch (self, next) {
        case (.received, .admitted), (.received, .rejected):
            true
        case (.admitted, .awaitingPayment), (.admitted, .queued), (.admitted, .running), (.admitted, .failed):
            true
        case (.awaitingPayment, .paid), (.awaitingPayment, .expired), (.awaitingPayment, .cancelled), (.awaitingPayment, .failed):
            true
        case (.paid, .queued), (.paid, .failed):
            true
        case (.queued, .running), (.queued, .answered), (.queued, .cancelled), (.queued, .failed):
            // queued → answered: recovery found the result of a job recorded as queued on the relays.
            true
        case (.running, .answered), (.running, .cancelled), (.running, .failed):
            true
        case (.running, .queued):
            // Only after a restart: the daemon stopped while the job ran, and it runs again.
            true
        default:
            false
        }
    }

    public var isFinal: Bool {
        switch self {
        case .answered, .rejected, .expired, .cancelled, .failed: true
        default: false
        }
    }

    /// The phase a job the store holds as `status` resumes in after a restart.
    init(resuming status: JobStatus) {
        switch status {
        case .queued: self = .queued
        case .awaitingPayment: self = .awaitingPayment
        case .running: self = .running
        case .completed: self = .answered
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        }
    }
}

/// A priced job's invoice as the provider follows it: when to ask the wallet next.
struct PaymentWatch: Sendable {
    let invoice: BOLT11Invoice
    var nextCheck: ContinuousClock.Instant
    var interval: Duration
}

/// The provider's jobs between admission and their final phase: for each, its phase, its
/// request, the route of a job that started as it was admitted, and the invoice of a priced one.
///
/// The one owner of a job's in-memory state, and the place that says which transition is
/// allowed. It does no I/O: the service asks it to move a job, and only once it agreed writes the
/// store (one transaction, with its journal entry), tells the scheduler and answers the customer.
/// Two paths racing to move the same job (a payment notification and a lookup, a cancellation
/// and the end of the run) cannot both win. Guarded by ProviderService's `jobs` lock.
struct JobTable: Sendable {
    struct Entry: Sendable {
        let request: JobRequest
        fileprivate(set) var phase: JobPhase
        /// The backend route of a job that started as it was admitted.
        var route: BackendRoute?
        /// The invoice a priced job waits on.
        fileprivate(set) var payment: PaymentWatch?
    }

    /// Why a move did not happen.
    enum Refusal: Error, Equatable {
        /// No such job in the table (never admitted here, or already final).
        case unknown
        /// The job's phase does not lead there.
        case notAllowed(from: JobPhase)
    }

    private var entries: [String: Entry] = [:]
    /// Job ids by the payment hash of their invoice.
    private var invoices: [String: String] = [:]

    var count: Int { entries.count }

    func entry(_ id: String) -> Entry? { entries[id] }

    /// Takes in an admitted job (or, after a restart, one the store holds open, in the phase it
    /// resumes in). False when the table already has it.
    mutating func insert(_ request: JobRequest, phase: JobPhase = .admitted) -> Bool {
        guard entries[request.id.hex] == nil, !phase.isFinal, phase != .received else { return false }
        entries[request.id.hex] = Entry(request: request, phase: phase)
        return true
    }

    /// Moves job `id` to `next` when its phase allows it, and returns the job as it is now. A final
    /// phase takes the job out of the table (and its invoice with it).
    @discardableResult
    mutating func move(_ id: String, to next: JobPhase, route: BackendRoute? = nil) -> Result<Entry, Refusal> {
        guard var entry = entries[id] else { return .failure(.unknown) }
        guard entry.phase.allows(next) else { return .failure(.notAllowed(from: entry.phase)) }
        entry.phase = next
        if let route { entry.route = route }
        if next.isFinal {
            entries[id] = nil
            if let hash = entry.payment?.invoice.paymentHash.hex { invoices[hash] = nil }
        } else {
            if next != .awaitingPayment, let hash = entry.payment?.invoice.paymentHash.hex {
                invoices[hash] = nil
                entry.payment = nil
            }
            entries[id] = entry
        }
        return .success(entry)
    }

    // MARK: Payments

    /// Follows the invoice of a job awaiting payment: its first check after `interval`. False when
    /// the job is not awaiting payment.
    mutating func watch(_ id: String, invoice: BOLT11Invoice, interval: Duration, now: ContinuousClock.Instant) -> Bool {
        guard var entry = entries[id], entry.phase == .awaitingPayment else { return false }
        if let old = entry.payment?.invoice.paymentHash.hex { invoices[old] = nil }
        entry.payment = PaymentWatch(invoice: invoice, nextCheck: now + interval, interval: interval)
        entries[id] = entry
        invoices[invoice.paymentHash.hex] = id
        return true
    }

    /// The job waiting on the invoice with this payment hash.
    func awaiting(paymentHash: String) -> Entry? {
        invoices[paymentHash].flatMap { entries[$0] }.flatMap { $0.phase == .awaitingPayment ? $0 : nil }
    }

    var watchedInvoices: Int { invoices.count }

    /// The payment hashes whose next check is due.
    func dueChecks(now: ContinuousClock.Instant) -> [String] {
        invoices.compactMap { hash, id in
            guard let watch = entries[id]?.payment, watch.nextCheck <= now else { return nil }
            return hash
        }
    }

    /// The soonest next check, if any invoice is followed.
    var nextCheck: ContinuousClock.Instant? {
        invoices.values.compactMap { entries[$0]?.payment?.nextCheck }.min()
    }

    /// An invoice still unpaid: the next look after twice the last interval (at most `maxInterval`),
    /// and never after the invoice expires: the last look is the one that closes an unpaid job.
    mutating func checkLater(paymentHash: String, maxInterval: Duration, secondsToExpiry: Int64, now: ContinuousClock.Instant) {
        guard let id = invoices[paymentHash], var entry = entries[id], var watch = entry.payment else { return }
        watch.interval = min(watch.interval * 2, maxInterval)
        watch.nextCheck = now + min(watch.interval, .seconds(max(0, secondsToExpiry)))
        entry.payment = watch
        entries[id] = entry
    }
}
