import CoreMetrics
import Foundation
import Logging
import NostrCore
import Payments
import PylonAsync
import PylonBasics
import PylonStore
import ServiceLifecycle
import Synchronization

/// A priced job's invoice as the provider follows it: the job's request (to run it once paid) and
/// when to ask the wallet next.
struct PendingPayment: Sendable {
    let request: JobRequest
    let invoice: BOLT11Invoice
    var nextCheck: ContinuousClock.Instant
    var interval: Duration
}

/// Priced jobs between admission and payment: those waiting for their invoice, and the invoices
/// waiting to be paid, by payment hash. Guarded by ProviderService's `payments` lock.
struct PaymentBook: Sendable {
    var pending: [String: PendingPayment] = [:]
}

/// Priced jobs (SPEC §8 "Payment"): an invoice from the wallet for the price, `payment-required`
/// with it, and the job queued (paid jobs first, by amount) only once the wallet confirms the
/// payment, by notification or by `lookup_invoice`. An invoice left unpaid closes its job with an
/// error. One invoice per job, ever: a restart re-publishes the job's invoice instead of making
/// another (see ``resumePayments(_:)``).
extension ProviderService {
    /// Admitted and priced: the invoice is made by ``takePayments()``, off the intake path.
    func askForPayment(_ request: JobRequest) {
        guard wallet != nil else {
            failJob(request, reason: "this provider asks a price but has no wallet to be paid into")
            return
        }
        invoicing.continuation.yield(request)
    }

    /// Runs for the provider's life: makes invoices for admitted priced jobs, follows the wallet's
    /// notifications, and asks the wallet about each unpaid invoice, less and less often.
    func takePayments() async {
        guard let wallet else { return }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.followNotifications(wallet) }
            group.addTask { await self.checkPayments(wallet) }
            for await request in invoicing.stream {
                group.addTask { await self.invoice(request, wallet: wallet) }
            }
        }
    }

    /// Makes the job's one invoice, records it, and tells the customer.
    func invoice(_ request: JobRequest, wallet: WalletClient) async {
        let configuration = configuration
        let price = configuration.priceMsats
        let made: BOLT11Invoice
        do {
            made = try await wallet.makeInvoice(
                amountMsats: price, description: "pylon job \(request.id.hex.prefix(12)) (kind \(request.event.kind))",
                expirySeconds: configuration.invoiceExpirySecs
            ).invoice
        } catch {
            logger.error("the wallet made no invoice", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            failJob(request, reason: "the provider could not make an invoice for this job; please try again later")
            return
        }
        do {
            try store.createInvoice(
                NewInvoice(
                    paymentHash: made.paymentHash.hex, jobID: request.id, bolt11: made.text, amountMsats: price,
                    expiresAt: Date(timeIntervalSince1970: Double(made.expiresAt))))
        } catch {
            logger.error("cannot record an invoice", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            failJob(request, reason: "the provider could not record the invoice for this job; please try again later")
            return
        }
        metrics.invoicesCreated.increment()
        follow(request, invoice: made)
    }

    /// Starts following an invoice and (again) asks the customer to pay it.
    func follow(_ request: JobRequest, invoice: BOLT11Invoice) {
        let configuration = configuration
        let pending = PendingPayment(
            request: request, invoice: invoice, nextCheck: .now + configuration.paymentCheckInterval, interval: configuration.paymentCheckInterval)
        payments.withLock { $0.pending[invoice.paymentHash.hex] = pending }
        let sats = Double(invoice.amountMsats ?? 0) / 1000
        send(
            feedback: .paymentRequired, extra: "pay \(sats.formatted(.number.precision(.fractionLength(0...3)))) sats to run this job",
            to: RequestReference(request), amount: JobAmount(msats: invoice.amountMsats ?? 0, bolt11: invoice.text))
        logger.debug("payment asked", metadata: ["job.id": "\(request.id)", "payment.hash": "\(invoice.paymentHash.hex)"])
    }

    private func followNotifications(_ wallet: WalletClient) async {
        for await notification in wallet.notifications().cancelOnGracefulShutdown() where notification.type == "payment_received" {
            let hash = notification.transaction.paymentHash
            guard payments.withLock({ $0.pending[hash] != nil }) else {
                unmatched(notification)
                continue
            }
            // A notification is a hint: the wallet's own record decides.
            await check(hash, wallet: wallet)
        }
    }

    /// A payment notification no waiting job matches (an invoice made outside a job, one already
    /// settled or expired, a replay): journaled and counted; it changes no balance and no job.
    private func unmatched(_ notification: WalletNotification) {
        let hash = notification.transaction.paymentHash
        let known = (try? store.invoice(paymentHash: hash)) ?? nil
        let reason = known.map { "the invoice is no longer waiting for payment (\($0.state.rawValue))" } ?? "no job of this node has an invoice with this payment hash"
        metrics.unmatchedPayments.increment()
        do {
            try store.append(
                kind: .paymentUnmatched,
                data: ["payment_hash": .string(hash), "amount_msats": .integer(notification.transaction.amountMsats), "reason": .string(reason)])
        } catch {
            logger.error("cannot journal an unmatched payment", metadata: ["payment.hash": "\(hash)", "error": "\(error)"])
        }
        logger.info("a payment notification matched no waiting job", metadata: ["payment.hash": "\(hash)", "payment.reason": "\(reason)"])
    }

    /// Asks the wallet about each invoice whose time has come, until the provider stops.
    private func checkPayments(_ wallet: WalletClient) async {
        while !isStopping && !Task.isCancelled {
            let now = ContinuousClock.now
            let due = payments.withLock { $0.pending.filter { $0.value.nextCheck <= now }.map(\.key) }
            for hash in due where !isStopping { await check(hash, wallet: wallet) }
            try? await LoopTimer.sleep(for: .milliseconds(250))
        }
    }

    /// One look at an invoice: paid → the job is queued; expired → the job is closed; else later.
    func check(_ hash: String, wallet: WalletClient) async {
        guard let pending = payments.withLock({ $0.pending[hash] }) else { return }
        let transaction: WalletTransaction?
        do {
            transaction = try await wallet.lookupInvoice(paymentHash: hash)
        } catch {
            logger.debug("cannot look an invoice up", metadata: ["payment.hash": "\(hash)", "error": "\(error)"])
            transaction = nil
        }
        if let transaction, transaction.isSettled {
            settle(hash, amountMsats: transaction.amountMsats)
        } else if pending.invoice.isExpired(now: Self.now) || transaction?.state == .expired {
            expire(hash)
        } else {
            let configuration = configuration
            payments.withLock { book in
                guard var entry = book.pending[hash] else { return }
                entry.interval = min(entry.interval * 2, configuration.paymentCheckMaxInterval)
                // Never past the expiry: the last look is the one that closes an unpaid job.
                let untilExpiry = Duration.seconds(max(0, pending.invoice.expiresAt - Self.now))
                entry.nextCheck = .now + min(entry.interval, untilExpiry)
                book.pending[hash] = entry
            }
        }
    }

    /// The wallet confirmed the payment: the earning and `payment.received` (and the job back to
    /// `queued`) in one transaction, then the job runs, ahead of free ones.
    func settle(_ hash: String, amountMsats: Int64) {
        guard let pending = payments.withLock({ $0.pending.removeValue(forKey: hash) }) else { return }
        let record: JournalRecord
        do {
            record = try store.settleInvoice(paymentHash: hash, amountMsats: amountMsats)
        } catch {
            logger.error("cannot record a payment", metadata: ["job.id": "\(pending.request.id)", "payment.hash": "\(hash)", "error": "\(error)"])
            return
        }
        metrics.invoicesSettled.increment()
        metrics.earnings.increment(by: amountMsats)
        logger.info("job paid", metadata: ["job.id": "\(pending.request.id)", "payment.msats": "\(amountMsats)"])
        guard record.data["job_status"]?.stringValue == JobStatus.queued.rawValue else {
            logger.warning("a payment did not release its job", metadata: ["job.id": "\(pending.request.id)", "payment.hash": "\(hash)"])
            return
        }
        guard !isStopping else { return }  // queued in the store: the next start runs it
        enqueue(pending.request, priority: amountMsats)
    }

    /// The invoice expired unpaid: the job is closed with an error, in the invoice's transaction.
    func expire(_ hash: String) {
        guard let pending = payments.withLock({ $0.pending.removeValue(forKey: hash) }) else { return }
        let reason = "payment not received: the invoice expired unpaid"
        do {
            try store.expireInvoice(paymentHash: hash, reason: reason)
        } catch {
            logger.error("cannot record an expired invoice", metadata: ["job.id": "\(pending.request.id)", "error": "\(error)"])
            return
        }
        metrics.failed.increment()
        metrics.invoicesExpired.increment()
        send(feedback: .error, extra: reason, to: RequestReference(pending.request))
        logger.info("invoice expired unpaid", metadata: ["job.id": "\(pending.request.id)"])
    }

    /// After a restart: every job still waiting for payment is followed again with its one
    /// invoice (re-published, in case it never reached a relay), or gets one if the daemon
    /// stopped before the wallet made it.
    func resumePayments(_ jobs: [Job]) {
        for job in jobs {
            guard let event = try? job.requestEvent() else {
                _ = try? store.fail(jobID: job.id, reason: "the stored request could not be read back")
                continue
            }
            var request = JobRequest(event: event)
            if request.isEncrypted { try? request.decrypt(with: keypair.secretKey) }
            let invoice = (try? store.invoices(jobID: job.id))?.last { $0.state == .pending }
            if let invoice, let decoded = try? BOLT11Invoice(invoice.bolt11) {
                follow(request, invoice: decoded)
            } else if (try? store.invoices(jobID: job.id))?.isEmpty ?? true {
                askForPayment(request)
            }
        }
    }
}
