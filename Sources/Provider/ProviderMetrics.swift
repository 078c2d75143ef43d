import CoreMetrics
import NostrCore

/// The provider's metrics (STYLE §6): labels from fixed sets only.
struct ProviderMetrics: Sendable {
    let received = Counter(label: "pylon_provider_requests_received_total")
    let admitted = Counter(label: "pylon_provider_jobs_admitted_total")
    let rejected: [RejectionReason: Counter] = Dictionary(
        uniqueKeysWithValues: RejectionReason.allCases.map {
            ($0, Counter(label: "pylon_provider_requests_rejected_total", dimensions: [("reason", $0.rawValue)]))
        })
    let completed = Counter(label: "pylon_provider_jobs_finished_total", dimensions: [("outcome", "completed")])
    let failed = Counter(label: "pylon_provider_jobs_finished_total", dimensions: [("outcome", "failed")])
    let cancelled = Counter(label: "pylon_provider_jobs_finished_total", dimensions: [("outcome", "cancelled")])
    let queued = Gauge(label: "pylon_provider_queue_jobs")
    let running = Gauge(label: "pylon_provider_running_jobs")
    let slots = Gauge(label: "pylon_provider_slots")
    let maxQueue = Gauge(label: "pylon_provider_max_queue")
    let duration = Timer(label: "pylon_provider_job_duration_seconds", preferredDisplayUnit: .seconds)
    let feedback: [FeedbackStatus: Counter] = Dictionary(
        uniqueKeysWithValues: [FeedbackStatus.paymentRequired, .processing, .partial, .error, .success].map {
            ($0, Counter(label: "pylon_provider_feedback_total", dimensions: [("status", $0.rawValue)]))
        })
    let announcements = Counter(label: "pylon_provider_announcements_total", dimensions: [("kind", "handler")])
    let heartbeats = Counter(label: "pylon_provider_announcements_total", dimensions: [("kind", "heartbeat")])
    /// What priced jobs brought in, and their invoices by what became of them.
    let earnings = Counter(label: "pylon_earnings_msats_total")
    let invoicesCreated = Counter(label: "pylon_invoices_total", dimensions: [("state", "created")])
    let invoicesSettled = Counter(label: "pylon_invoices_total", dimensions: [("state", "settled")])
    let invoicesExpired = Counter(label: "pylon_invoices_total", dimensions: [("state", "expired")])
    /// Payment notifications that matched no waiting job.
    let unmatchedPayments = Counter(label: "pylon_wallet_notifications_unmatched_total")

    func reject(_ reason: RejectionReason) { rejected[reason]?.increment() }

    func observe(_ scheduler: JobScheduler) {
        let counts = scheduler.counts
        queued.record(counts.queued)
        running.record(counts.running)
        slots.record(counts.slots)
        maxQueue.record(counts.maxQueue)
    }
}
