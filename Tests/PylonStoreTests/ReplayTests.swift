import Foundation
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Rebuild from the journal")
struct ReplayTests {
    /// A day of a node's life: every kind of job outcome, invoices paid and expired, a zap,
    /// rejections, a requeue, agents, and daemon-level entries in between.
    static func liveADay(_ fixture: Fixture) throws {
        let store = fixture.store
        let clock = fixture.clock
        func tick() { clock.advance(0.137) }
        try store.append(kind: "daemon.started", data: .object([.init("version", .string("0.1.0"))]))
        try store.append(kind: "relay.up", data: .object([.init("url", .string("wss://relay.example.com"))]))

        // A free job served
        let a = request("a")
        try store.admit(newJob(a, bid: 100, receivedAt: clock.now.addingTimeInterval(-0.003)))
        tick()
        try store.start(jobID: a.id, model: "llama3.2:1b", backend: "ollama")
        tick()
        try store.complete(jobID: a.id, JobCompletion(resultEventID: resultID(1), promptTokens: 10, completionTokens: 20, outputBytes: 80, durationMs: 137))

        // A job whose backend failed
        let b = request("b")
        try store.admit(newJob(b, receivedAt: clock.now))
        tick()
        try store.start(jobID: b.id, model: "llama3.2:1b", backend: "ollama")
        try store.fail(jobID: b.id, reason: "the backend stopped answering")

        // A job deleted by its customer while queued
        let c = request("c")
        try store.admit(newJob(c, receivedAt: clock.now))
        tick()
        try store.cancel(jobID: c.id, reason: "deleted by the customer")

        // Rejections
        try store.recordRejection(eventID: request("spam").id, reason: "rate_limited")
        try store.recordRejection(eventID: request("huge").id, reason: "too_large", data: .object([.init("bytes", .integer(99_999))]))

        // A priced job paid through an invoice, then served
        let d = request("d")
        try store.admit(newJob(d, price: 2000, bid: 2500, receivedAt: clock.now))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(1), jobID: d.id, bolt11: "lnbc20n1d", amountMsats: 2000, expiresAt: clock.now.addingTimeInterval(600)))
        tick()
        try store.settleInvoice(paymentHash: paymentHash(1))
        try store.start(jobID: d.id, model: "gpt-oss", backend: "openai")
        tick()
        try store.complete(jobID: d.id, JobCompletion(resultEventID: resultID(2), promptTokens: nil, completionTokens: 99, outputBytes: 400, durationMs: 137))

        // A priced job never paid
        let e = request("e")
        try store.admit(newJob(e, price: 2000, receivedAt: clock.now))
        try store.createInvoice(NewInvoice(paymentHash: paymentHash(2), jobID: e.id, bolt11: "lnbc20n1e", amountMsats: 2000))
        clock.advance(600)
        try store.expireInvoice(paymentHash: paymentHash(2))
        try store.append(kind: "relay.down", data: .object([.init("url", .string("wss://relay.example.com"))]))

        // A free job paid with its result, a zap, and the late payment of the expired invoice
        let f = request("f")
        try store.admit(newJob(f, receivedAt: clock.now))
        try store.start(jobID: f.id, model: "m", backend: "b")
        tick()
        try store.complete(jobID: f.id, JobCompletion(resultEventID: resultID(3), durationMs: 1, earning: NewEarning(amountMsats: 500, paymentHash: paymentHash(3))))
        try store.recordEarning(NewEarning(amountMsats: 21_000, source: .zap, paymentHash: paymentHash(4)))
        try store.recordEarning(NewEarning(amountMsats: 7, source: .tip))
        tick()
        try store.settleInvoice(paymentHash: paymentHash(2), amountMsats: 1999)

        // A job interrupted and requeued, still running; one still queued; one still unpaid
        let g = request("g")
        try store.admit(newJob(g, receivedAt: clock.now))
        try store.start(jobID: g.id, model: "m", backend: "b")
        try store.requeue(jobID: g.id, reason: "interrupted by a restart")
        tick()
        try store.start(jobID: g.id, model: "m2", backend: "b2")
        try store.admit(newJob(request("h"), receivedAt: clock.now))
        try store.admit(newJob(request("i"), price: 10, receivedAt: clock.now))

        // Agents
        try store.createAgent(NewAgent(name: "scout", pubkey: Keypair.generate().publicKey, goal: "find news", heartbeatSecs: 300, tickBudgetMsats: 5000))
        tick()
        try store.startAgent(name: "scout")
        try store.recordTick(NewTick(agentName: "scout", startedAt: clock.now, durationMs: 900, promptTokens: 100, completionTokens: 50, costMsats: 1200, outcome: "ok"))
        tick()
        try store.recordTick(NewTick(agentName: "scout", startedAt: clock.now, durationMs: 100, outcome: "error", note: "no provider answered"))
        try store.setAgentState(name: "scout", to: .lowBalance, reason: "2 days of runway")
        tick()
        try store.stopAgent(name: "scout", reason: "stopped by the owner")
        try store.createAgent(NewAgent(name: "temp", pubkey: Keypair.generate().publicKey, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0, state: .active))
        try store.recordTick(NewTick(agentName: "temp", startedAt: clock.now, durationMs: 1, outcome: "ok"))
        try store.deleteAgent(name: "temp")
        try store.append(kind: "shutdown.begin")
    }

    @Test("replaying the journal alone gives exactly the jobs, earnings, invoices, seen ids and agents in the tables")
    func rebuild() throws {
        // Given a store that lived through a realistic sequence
        let fixture = try Fixture()
        try Self.liveADay(fixture)
        let tables = try fixture.store.snapshot()
        #expect(tables.jobs.count == 9)
        #expect(tables.earnings.count == 5)
        #expect(tables.processedRequests.count == 11)
        #expect(Set(tables.jobs.map(\.status)) == Set(JobStatus.allCases))
        // When the state is rebuilt from the journal entries only
        let rebuilt = try JournalReplay.rebuild(from: try fixture.store.journal())
        // Then it is identical, field for field
        #expect(rebuilt.jobs == tables.jobs)
        #expect(rebuilt.earnings == tables.earnings)
        #expect(rebuilt.invoices == tables.invoices)
        #expect(rebuilt.processedRequests == tables.processedRequests)
        #expect(rebuilt.agents == tables.agents)
        #expect(rebuilt.ticks == tables.ticks)
        #expect(rebuilt == tables)
    }

    @Test("restoring the journal into a new database gives the same tables and journal, and seq goes on from there")
    func restore() throws {
        // Given a lived-in store and its journal
        let fixture = try Fixture()
        try Self.liveADay(fixture)
        let journal = try fixture.store.journal()
        // When a new database is filled from the journal alone (the journal read back from a file)
        let other = try Fixture(clock: fixture.clock)
        try other.store.restore(from: journal)
        // Then its tables and journal equal the original's
        #expect(try other.store.snapshot() == fixture.store.snapshot())
        #expect(try other.store.journal() == journal)
        #expect(try other.store.statistics() == fixture.store.statistics())
        #expect(try other.store.earningsSummary(now: fixture.clock.now) == fixture.store.earningsSummary(now: fixture.clock.now))
        // And it goes on: the next entry follows the last restored one
        let lastSeq = try #require(journal.last?.seq)
        #expect(try other.store.append(kind: "daemon.started").seq == lastSeq + 1)
        // And a restore into a non-empty database is refused
        #expect(storeError { try other.store.restore(from: journal) }?.code == .invalidArgument)
    }

    @Test("a journal that names a job never admitted, or is out of order, is corrupt_data")
    func corruptJournal() throws {
        let time = TestClock.start
        let started = JournalRecord(
            seq: 1, time: time, kind: JournalKind.jobStarted,
            data: .object([.init("id", .string(request().id.hex)), .init("model", .string("m")), .init("backend", .string("b"))]))
        #expect(storeError { _ = try JournalReplay.rebuild(from: [started]) }?.code == .corruptData)
        let a = JournalRecord(seq: 2, time: time, kind: "relay.up", data: .object([]))
        let b = JournalRecord(seq: 2, time: time, kind: "relay.up", data: .object([]))
        #expect(storeError { _ = try JournalReplay.rebuild(from: [a, b]) }?.code == .corruptData)
        let missing = JournalRecord(seq: 1, time: time, kind: JournalKind.jobRejected, data: .object([.init("id", .string(request().id.hex))]))
        let error = storeError { _ = try JournalReplay.rebuild(from: [missing]) }
        #expect(error?.code == .corruptData)
        #expect(error?.message.contains("\"reason\" is missing") == true)
    }
}
