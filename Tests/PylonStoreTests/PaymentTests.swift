import Foundation
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Invoices and earnings")
struct PaymentTests {
    @Test("invoice → payment: the invoice settles, the earning is recorded, the job is released to the queue")
    func invoiceFlow() throws {
        // Given a priced job
        let fixture = try Fixture()
        let store = fixture.store
        let event = request()
        try store.admit(newJob(event, price: 2000))
        // When the wallet makes an invoice
        let created = try store.createInvoice(
            NewInvoice(paymentHash: paymentHash(1), jobID: event.id, bolt11: "lnbc20n1test", amountMsats: 2000,
                expiresAt: TestClock.start.addingTimeInterval(600)))
        #expect(created.kind == "invoice.created")
        #expect(created.data["expires_at"] == .string("2026-11-29T15:10:00.000Z"))
        var invoice = try #require(try store.invoice(paymentHash: paymentHash(1)))
        #expect(invoice.state == .pending)
        #expect(try store.pendingInvoices().map(\.paymentHash) == [paymentHash(1)])
        // And it is paid
        fixture.clock.advance(30)
        let paid = try store.settleInvoice(paymentHash: paymentHash(1))
        // Then
        invoice = try #require(try store.invoice(paymentHash: paymentHash(1)))
        #expect(invoice.state == .settled)
        #expect(invoice.settledAt == TestClock.start.addingTimeInterval(30))
        #expect(try store.pendingInvoices().isEmpty)
        #expect(try store.job(id: event.id)?.status == .queued)
        let earning = try #require(try store.earnings(jobID: event.id).first)
        #expect(earning.amountMsats == 2000 && earning.source == .job && earning.paymentHash == paymentHash(1))
        #expect(paid.kind == "payment.received")
        #expect(paid.data["invoice"] == .bool(true))
        #expect(paid.data["job_status"] == .string("queued"))
        #expect(try store.invoices(jobID: event.id).count == 1)
        // And the job can now run and complete without a second earning
        try store.start(jobID: event.id, model: "m", backend: "b")
        try store.complete(jobID: event.id, JobCompletion(resultEventID: resultID(1), durationMs: 10))
        #expect(try store.statistics().earningsMsats == 2000)
    }

    @Test("a payment that releases its job can start it in the same transaction, as a free job's admission does")
    func settleAndStart() throws {
        // Given a priced job with its invoice, on a store whose clock counts its transactions
        let clock = TestClock()
        let transactions = Counter()
        let home = try TestHome()
        let store = try PylonStore.open(path: home.file("pylon.db").path(percentEncoded: false)) {
            transactions.increment()
            return clock.now
        }
        let event = request()
        try store.admit(newJob(event, price: 1000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(40), jobID: event.id, bolt11: "lnbc1", amountMsats: 1000))
        let before = (transactions: transactions.value, seq: try store.lastSeq())
        // When it is paid while a slot is free
        let paid = try store.settleInvoice(paymentHash: paymentHash(40), startingOn: JobStart(model: "m", backend: "b"))
        // Then one transaction recorded the payment and the start, each with its journal entry
        #expect(transactions.value == before.transactions + 1)
        #expect(paid.kind == "payment.received" && paid.data["job_status"] == .string("queued"))
        let entries = try store.journal(since: before.seq)
        #expect(entries.map(\.kind) == ["payment.received", "job.started"])
        #expect(entries.last?.data["model"] == .string("m") && entries.last?.data["backend"] == .string("b"))
        let job = try #require(try store.job(id: event.id))
        #expect(job.status == .running && job.model == "m" && job.backend == "b" && job.startedAt == clock.now)
        #expect(try store.earnings(jobID: event.id).map(\.amountMsats) == [1000])
        // And the journal alone rebuilds the same state
        #expect(try JournalReplay.rebuild(from: try store.journal()) == store.snapshot())

        // A payment that does not cover the price releases nothing, so nothing starts
        let partial = request("partial")
        try store.admit(newJob(partial, price: 3000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(41), jobID: partial.id, bolt11: "lnbc3", amountMsats: 3000))
        let short = try store.settleInvoice(paymentHash: paymentHash(41), amountMsats: 1000, startingOn: JobStart(model: "m", backend: "b"))
        #expect(short.data["job_status"] == .null)
        #expect(try store.job(id: partial.id)?.status == .awaitingPayment)
        #expect(try store.journal(since: short.seq).isEmpty)
        // A start needs its model and backend, and is refused before anything is written
        let third = request("third")
        try store.admit(newJob(third, price: 1000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(42), jobID: third.id, bolt11: "lnbc1", amountMsats: 1000))
        #expect(storeError { try store.settleInvoice(paymentHash: paymentHash(42), startingOn: JobStart(model: "", backend: "b")) }?.code == .invalidArgument)
        #expect(try store.invoice(paymentHash: paymentHash(42))?.state == .pending)
    }

    @Test("settling twice is refused: nobody pays twice")
    func settleTwice() throws {
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event, price: 1000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(2), jobID: event.id, bolt11: "lnbc1", amountMsats: 1000))
        try store.settleInvoice(paymentHash: paymentHash(2))
        let before = try Everything(store)
        #expect(storeError { try store.settleInvoice(paymentHash: paymentHash(2)) }?.code == .invalidTransition)
        #expect(storeError { try store.recordEarning(NewEarning(amountMsats: 1000, paymentHash: paymentHash(2), jobID: event.id)) }?.code == .invalidArgument)
        #expect(try Everything(store) == before)
        #expect(try store.earningsSummary(now: TestClock.start).count == 1)
    }

    @Test("an expired invoice closes the job honestly; a late payment still counts but does not reopen it")
    func expiry() throws {
        let fixture = try Fixture()
        let store = fixture.store
        let event = request()
        try store.admit(newJob(event, price: 1000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(3), jobID: event.id, bolt11: "lnbc1", amountMsats: 1000))
        fixture.clock.advance(600)
        let records = try store.expireInvoice(paymentHash: paymentHash(3))
        #expect(records.map(\.kind) == ["invoice.expired", "job.failed"])
        #expect(records[1].data["from"] == .string("awaiting_payment"))
        #expect(try store.invoice(paymentHash: paymentHash(3))?.state == .expired)
        let job = try #require(try store.job(id: event.id))
        #expect(job.status == .failed)
        #expect(job.error == "the invoice expired unpaid")
        #expect(storeError { try store.expireInvoice(paymentHash: paymentHash(3)) }?.code == .invalidTransition)
        // A payment that arrives after expiry is recorded; the job stays failed
        let late = try store.settleInvoice(paymentHash: paymentHash(3))
        #expect(late.data["job_status"] == .null)
        #expect(try store.job(id: event.id)?.status == .failed)
        #expect(try store.invoice(paymentHash: paymentHash(3))?.state == .settled)
        #expect(try store.statistics().earningsMsats == 1000)
    }

    @Test("expiring the invoice of a job already closed only expires the invoice")
    func expiryAfterCancel() throws {
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event, price: 1000))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(4), jobID: event.id, bolt11: "lnbc1", amountMsats: 1000))
        try store.cancel(jobID: event.id, reason: "deleted by the customer")
        #expect(try store.expireInvoice(paymentHash: paymentHash(4)).map(\.kind) == ["invoice.expired"])
        #expect(try store.job(id: event.id)?.status == .cancelled)
    }

    @Test("invoices: only for a job waiting for payment, unique hashes, valid arguments")
    func invoiceValidation() throws {
        let store = try Fixture().store
        let free = request("free")
        let priced = request("priced")
        try store.admit(newJob(free))
        try store.admit(newJob(priced, price: 1000))
        let invoice = NewInvoice(paymentHash: paymentHash(5), jobID: priced.id, bolt11: "lnbc1", amountMsats: 1000)
        #expect(storeError { try store.createInvoice(NewInvoice(paymentHash: paymentHash(6), jobID: free.id, bolt11: "lnbc1", amountMsats: 1)) }?.code == .invalidTransition)
        #expect(storeError { try store.createInvoice(NewInvoice(paymentHash: "XYZ", jobID: priced.id, bolt11: "lnbc1", amountMsats: 1)) }?.code == .invalidArgument)
        #expect(storeError { try store.createInvoice(NewInvoice(paymentHash: paymentHash(6), jobID: priced.id, bolt11: "", amountMsats: 1)) }?.code == .invalidArgument)
        #expect(storeError { try store.createInvoice(NewInvoice(paymentHash: paymentHash(6), jobID: request("none").id, bolt11: "x", amountMsats: 1)) }?.code == .notFound)
        try store.createInvoice(invoice)
        #expect(storeError { try store.createInvoice(invoice) }?.code == .duplicate)
        #expect(storeError { try store.settleInvoice(paymentHash: paymentHash(77)) }?.code == .notFound)
        // A wallet invoice with no job (`pylon wallet invoice`)
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(8), jobID: nil, bolt11: "lnbc8", amountMsats: 8000))
        let paid = try store.settleInvoice(paymentHash: paymentHash(8), amountMsats: 8001)
        #expect(paid.data["source"] == .string("other"))
        #expect(paid.data["amount_msats"] == .integer(8001))
    }

    @Test("a partial payment does not release the job; payments that cover the price do")
    func partialPayments() throws {
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event, price: 3000))
        let first = try store.recordEarning(NewEarning(amountMsats: 1000, source: .job, paymentHash: paymentHash(10), jobID: event.id))
        #expect(first.data["job_status"] == .null)
        #expect(try store.job(id: event.id)?.status == .awaitingPayment)
        let second = try store.recordEarning(NewEarning(amountMsats: 2000, source: .job, paymentHash: paymentHash(11), jobID: event.id))
        #expect(second.data["job_status"] == .string("queued"))
        #expect(try store.job(id: event.id)?.status == .queued)
    }

    @Test("earnings: duplicates and bad amounts are refused")
    func earningValidation() throws {
        let store = try Fixture().store
        try store.recordEarning(NewEarning(amountMsats: 21_000, source: .zap, paymentHash: paymentHash(12)))
        #expect(storeError { try store.recordEarning(NewEarning(amountMsats: 1, source: .zap, paymentHash: paymentHash(12))) }?.code == .duplicate)
        #expect(storeError { try store.recordEarning(NewEarning(amountMsats: 0, source: .tip)) }?.code == .invalidArgument)
        #expect(storeError { try store.recordEarning(NewEarning(amountMsats: 5, source: .job)) }?.code == .invalidArgument)
        #expect(storeError { try store.recordEarning(NewEarning(amountMsats: 5, source: .job, jobID: request("no").id)) }?.code == .notFound)
        // Earnings without a payment hash are allowed (a tip reported without one)
        try store.recordEarning(NewEarning(amountMsats: 5, source: .tip))
        try store.recordEarning(NewEarning(amountMsats: 6, source: .tip))
        #expect(try store.statistics().earningsCount == 3)
    }

    @Test("the summary counts today from UTC midnight, the week as 7 × 24 h before now, and all time")
    func summaryWindows() throws {
        // Given earnings at known times around now = 2026-11-29T15:00:00Z
        let fixture = try Fixture()
        let store = fixture.store
        let now = TestClock.start
        let day: TimeInterval = 86_400
        let midnight = RFC3339.startOfUTCDay(now)
        let payments: [(Date, Int64, EarningSource)] = [
            (now.addingTimeInterval(-8 * day), 1, .zap),  // total only
            (now.addingTimeInterval(-7 * day - 0.001), 2, .tip),  // just outside the week
            (now.addingTimeInterval(-7 * day), 4, .zap),  // the week's first instant
            (now.addingTimeInterval(-3 * day), 8, .other),  // week
            (midnight.addingTimeInterval(-0.001), 16, .zap),  // yesterday's last millisecond
            (midnight, 32, .tip),  // today's first
            (now.addingTimeInterval(-3600), 64, .zap),  // today
        ]
        for (i, (time, amount, source)) in payments.enumerated() {
            fixture.clock.set(time)
            try store.recordEarning(NewEarning(amountMsats: amount, source: source, paymentHash: paymentHash(100 + i)))
        }
        // When summarized at now
        let summary = try store.earningsSummary(now: now)
        // Then
        #expect(summary.todayMsats == 32 + 64)
        #expect(summary.weekMsats == 4 + 8 + 16 + 32 + 64)
        #expect(summary.totalMsats == 127)
        #expect(summary.count == 7)
        let bySource: [EarningSource: Int64] = [.zap: 85, .tip: 34, .other: 8]
        #expect(summary.bySource == bySource)
        // And recent payments are newest first
        #expect(try store.recentPayments(limit: 3).map(\.amountMsats) == [64, 32, 16])
        // An empty store sums to zero
        let empty = try PylonStore.inMemory().earningsSummary(now: now)
        #expect(empty == EarningsSummary(todayMsats: 0, weekMsats: 0, totalMsats: 0, count: 0, bySource: [:]))
    }

    @Test("statistics load what a daemon shows at start")
    func statistics() throws {
        let fixture = try Fixture()
        let store = fixture.store
        for i in 0..<3 {
            let event = request("s\(i)")
            try store.admit(newJob(event))
            try store.start(jobID: event.id, model: "m", backend: "b")
            try store.complete(
                jobID: event.id,
                JobCompletion(resultEventID: resultID(UInt8(i)), durationMs: 1, earning: NewEarning(amountMsats: 1000, paymentHash: paymentHash(200 + i))))
        }
        try store.admit(newJob(request("open")))
        try store.close()
        let stats = try fixture.reopen().statistics()
        #expect(stats == StoreStatistics(jobsCompleted: 3, jobsFailed: 0, jobsCancelled: 0, jobsUnfinished: 1, earningsMsats: 3000, earningsCount: 3, lastSeq: 17))
    }
}
