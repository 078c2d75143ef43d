import Backends
import CoreMetrics
import Logging
import NostrCore
import Payments
import PylonAsync
import PylonBasics
import PylonStore
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Priced jobs (SPEC §8 "Payment"): an invoice from the wallet for the price, `payment-required`
/// with it, and the job queued (paid jobs first, by amount) only once the wallet confirms the
/// payment, by notification or by `lookup_invoice`. An invoice left unpaid closes its job with an
/// error. One invoice per job, ever: a restart re-publishes the job's invoice instead of making
/// another (see ``resumePayments(_:)``).
/// A priced job that needs its invoice.
struct InvoiceOrder: Sendable {
    let request: JobRequest
    /// Admitted before a restart: the wallet may have made the invoice already.
    let resumed: Bool
}

extension ProviderService {
    /// Admitted and priced: the invoice is made by ``takePayments()``, off the intake path.
    /// `resumed`: the job was admitted before a restart, and the wallet may have made its
    /// invoice already.
    func askForPayment(_ request: JobRequest, resumed: Bool = false) {
        guard wallet != nil else {
            failJob(request, reason: "this provider asks a price but has no wallet to be paid into")
            return
        }
        invoicing.continuation.yield(InvoiceOrder(request: request, resumed: resumed))
    }

    /// Runs for the provider's life: makes invoices for admitted priced jobs, follows the wallet's
    /// notifications, and asks the wallet about each unpaid invoice, less and less often.
    func takePayments() async {
        guard let wallet else { return }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.followNotifications(wallet) }
            group.addTask { await self.checkPayments(wallet) }
            for await order in invoicing.stream {
                group.addTask { await self.invoice(order, wallet: wallet) }
            }
        }
    }

    /// Makes the job's one invoice (or, after a restart, finds the one the wallet made before the
    /// daemon could record it), records it, and tells the customer.
    func invoice(_ order: InvoiceOrder, wallet: WalletClient) async {
        let request = order.request
        let configuration = configuration
        let made: BOLT11Invoice
        do {
            if order.resumed, let found = try await madeBeforeRestart(request, wallet: wallet) {
                made = found
                logger.info("found the invoice made before a restart", metadata: ["job.id": "\(request.id)", "payment.hash": "\(made.paymentHash.hex)"])
            } else {
                made = try await wallet.makeInvoice(
                    amountMsats: configuration.priceMsats, description: Self.invoiceDescription(request),
                    expirySeconds: configuration.invoiceExpirySecs
                ).invoice
            }
        } catch {
            logger.error("the wallet made no invoice", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            failJob(request, reason: "the provider could not make an invoice for this job; please try again later")
            return
        }
        do {
            try store.createInvoice(
                NewInvoice(
                    paymentHash: made.paymentHash.hex, jobID: request.id, bolt11: made.text, amountMsats: made.amountMsats ?? configuration.priceMsats,
                    expiresAt: Date(timeIntervalSince1970: Double(made.expiresAt))))
        } catch {
            logger.error("cannot record an invoice", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            failJob(request, reason: "the provider could not record the invoice for this job; please try again later")
            return
        }
        metrics.invoicesCreated.increment()
        follow(request, invoice: made)
    }

    /// The unpaid invoice the wallet made for this job, if a crash came before the daemon recorded it.
    private func madeBeforeRestart(_ request: JobRequest, wallet: WalletClient) async throws(PaymentsError) -> BOLT11Invoice? {
        let description = Self.invoiceDescription(request)
        let unpaid = try await wallet.listTransactions(limit: 100, unpaid: true)
        guard
            let transaction = unpaid.first(where: { $0.direction != .outgoing && $0.description == description && $0.state != .expired }),
            let text = transaction.invoice, let invoice = try? BOLT11Invoice(text), invoice.paymentHash.hex == transaction.paymentHash,
            !invoice.isExpired(now: Self.now)
        else { return nil }
        return invoice
    }

    /// What the invoice of a job says: it names the job, whole, so that a restart can find an
    /// invoice the wallet made for it before the daemon could record it.
    static func invoiceDescription(_ request: JobRequest) -> String {
        "pylon job \(request.id.hex) (kind \(request.event.kind))"
    }

    /// Starts following an invoice and (again) asks the customer to pay it.
    func follow(_ request: JobRequest, invoice: BOLT11Invoice) {
        let interval = configuration.paymentCheckInterval
        guard jobs.withLock({ $0.watch(request.id.hex, invoice: invoice, interval: interval, now: .now) }) else { return }
        invoiceFollowed.continuation.yield()
        send(
            feedback: .paymentRequired, extra: "pay \(Sats.text(invoice.amountMsats ?? 0)) to run this job",
            to: RequestReference(request), amount: JobAmount(msats: invoice.amountMsats ?? 0, bolt11: invoice.text))
        logger.debug("payment asked", metadata: ["job.id": "\(request.id)", "payment.hash": "\(invoice.paymentHash.hex)"])
    }

    /// Reads the wallet's notifications in this task, on the daemon's loop, until the wallet stops
    /// or the graceful shutdown begins. (`cancelOnGracefulShutdown()` would read them in a task of
    /// the shared pool: two thread hops, and their wake-ups, for every notification.)
    private func followNotifications(_ wallet: WalletClient) async {
        let notifications = wallet.notifications()
        await cancelWhenGracefulShutdown {
            for await notification in notifications where notification.type == "payment_received" {
                await self.received(notification, wallet: wallet)
            }
        }
    }

    /// A `payment_received` notification: settles the invoice it names, or asks the wallet.
    func received(_ notification: WalletNotification, wallet: WalletClient) async {
        let hash = notification.transaction.paymentHash
        guard let invoice = jobs.withLock({ $0.awaiting(paymentHash: hash)?.payment?.invoice }) else {
            unmatched(notification)
            return
        }
        // The notification comes from the wallet's own key, encrypted to ours: as good as its
        // answer to a lookup when it says that this invoice is settled in full. Anything less
        // (a partial amount, no state) is a hint, and the wallet's record decides.
        let transaction = notification.transaction
        if transaction.state == .settled, transaction.amountMsats >= (invoice.amountMsats ?? .max) {
            settle(hash, amountMsats: transaction.amountMsats)
        } else {
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

    /// Asks the wallet about each invoice whose time has come, until the provider stops. While
    /// no invoice is followed it sleeps until one is.
    private func checkPayments(_ wallet: WalletClient) async {
        var followed = invoiceFollowed.stream.makeAsyncIterator()
        while !isStopping && !Task.isCancelled {
            let now = ContinuousClock.now
            let (due, next) = jobs.withLock { ($0.dueChecks(now: now), $0.nextCheck) }
            for hash in due where !isStopping { await check(hash, wallet: wallet) }
            guard due.isEmpty else { continue }
            if let next {
                // A newly followed invoice's first check is at most one interval away.
                try? await LoopTimer.sleep(for: min(next - now, configuration.paymentCheckInterval))
            } else if await followed.next() == nil {
                return
            }
        }
    }

    /// One look at an invoice: paid → the job is queued; expired → the job is closed; else later.
    func check(_ hash: String, wallet: WalletClient) async {
        guard let pending = jobs.withLock({ $0.awaiting(paymentHash: hash)?.payment }) else { return }
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
            let maxInterval = configuration.paymentCheckMaxInterval
            let untilExpiry = pending.invoice.expiresAt - Self.now
            jobs.withLock { $0.checkLater(paymentHash: hash, maxInterval: maxInterval, secondsToExpiry: untilExpiry, now: .now) }
        }
    }

    /// The wallet confirmed the payment: the earning and `payment.received` (and the job back to
    /// `queued`) in one transaction, then the job runs, ahead of free ones. A job paid while a
    /// slot is free starts at once, and the payment's transaction records its start too, as a
    /// free job's admission does: one write instead of two.
    func settle(_ hash: String, amountMsats: Int64) {
        guard let request = jobs.withLock({ $0.awaiting(paymentHash: hash)?.request }) else { return }
        var route: BackendRoute?
        var reservation: SlotReservation?
        if !isStopping, let found = try? backends.route(model: ((try? request.parameters()) ?? JobParameters()).model) {
            reservation = scheduler.reserveSlot()
            if reservation != nil { route = found }
        }
        var released = false
        let paid = advance(request.id, to: .paid) {
            let start = route.map { JobStart(model: $0.model, backend: $0.backendName) }
            let record = try store.settleInvoice(paymentHash: hash, amountMsats: amountMsats, startingOn: start)
            released = record.data["job_status"]?.stringValue == JobStatus.queued.rawValue
        }
        guard paid != nil, released else {
            if let reservation = reservation.take() { scheduler.release(reservation) }
            if paid != nil {
                logger.warning("a payment did not release its job", metadata: ["job.id": "\(request.id)", "payment.hash": "\(hash)"])
            }
            return
        }
        metrics.invoicesSettled.increment()
        metrics.earnings.increment(by: amountMsats)
        logger.info("job paid", metadata: ["job.id": "\(request.id)", "payment.msats": "\(amountMsats)"])
        if let route, let reservation = reservation.take() {
            // Recorded as started: paid → queued → running, and it takes the slot kept for it.
            let id = request.id.hex
            let started = jobs.withLock { jobs in
                if case .failure = jobs.move(id, to: .queued) { return false }
                if case .failure = jobs.move(id, to: .running, route: route) { return false }
                return true
            }
            guard started else {
                scheduler.release(reservation)
                return
            }
            scheduler.enqueue(Self.scheduledItem(request, priority: amountMsats), reservation: reservation)
            metrics.observe(scheduler)
            return
        }
        // The payment's transaction queued the job in the store; a stop now leaves it for the next start.
        guard !isStopping, advance(request.id, to: .queued) != nil else { return }
        schedule(request, priority: amountMsats)
    }

    /// The invoice expired unpaid: the job is closed with an error, in the invoice's transaction.
    func expire(_ hash: String) {
        guard let request = jobs.withLock({ $0.awaiting(paymentHash: hash)?.request }) else { return }
        let reason = "payment not received: the invoice expired unpaid"
        guard advance(request.id, to: .expired, record: { try store.expireInvoice(paymentHash: hash, reason: reason) }) != nil else { return }
        metrics.failed.increment()
        metrics.invoicesExpired.increment()
        send(feedback: .error, extra: reason, to: RequestReference(request))
        logger.info("invoice expired unpaid", metadata: ["job.id": "\(request.id)"])
    }

    /// After a restart: every job still waiting for payment is followed again with its one
    /// invoice (re-published, in case it never reached a relay), or gets one if the daemon
    /// stopped before the wallet made it.
    func resumePayments(_ waiting: [Job]) {
        for job in waiting {
            guard let event = try? job.requestEvent() else {
                _ = try? store.fail(jobID: job.id, reason: "the stored request could not be read back")
                continue
            }
            var request = JobRequest(event: event)
            if request.isEncrypted { try? request.decrypt(with: keypair.secretKey) }
            guard jobs.withLock({ $0.insert(request, phase: .awaitingPayment) }) else { continue }
            let invoices = (try? store.invoices(jobID: job.id)) ?? []
            if let invoice = invoices.last(where: { $0.state == .pending }), let decoded = try? BOLT11Invoice(invoice.bolt11) {
                follow(request, invoice: decoded)
            } else if invoices.isEmpty {
                askForPayment(request, resumed: true)
            }
        }
    }
}
