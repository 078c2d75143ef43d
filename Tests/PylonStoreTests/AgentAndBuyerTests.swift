import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Agents")
struct AgentTests {
    @Test("an agent's lifecycle: created spawning, started, ticks, low balance, stopped; each with its entry")
    func lifecycle() throws {
        let fixture = try Fixture()
        let store = fixture.store
        let key = Keypair.generate().publicKey
        let created = try store.createAgent(NewAgent(name: "scout-1", pubkey: key, goal: "summarize the news", heartbeatSecs: 300, tickBudgetMsats: 5000))
        #expect(created.kind == "agent.created")
        var agent = try #require(try store.agent(name: "scout-1"))
        #expect(agent.state == .spawning && agent.pubkey == key && agent.goal == "summarize the news")
        #expect(agent.heartbeatSecs == 300 && agent.tickBudgetMsats == 5000 && agent.createdAt == TestClock.start)

        fixture.clock.advance(1)
        #expect(try store.startAgent(name: "scout-1").data["from"] == .string("spawning"))
        let ticked = try store.recordTick(
            NewTick(agentName: "scout-1", startedAt: fixture.clock.now, durationMs: 850, promptTokens: 120, completionTokens: 40, costMsats: 900, outcome: "ok", note: "posted a summary"))
        #expect(ticked.kind == "agent.ticked")
        #expect(try store.setAgentState(name: "scout-1", to: .lowBalance, reason: "3 days of runway")?.kind == "agent.state_changed")
        #expect(try store.setAgentState(name: "scout-1", to: .lowBalance, reason: "still") == nil)
        fixture.clock.advance(1)
        try store.stopAgent(name: "scout-1", reason: "stopped by the owner")
        #expect(storeError { try store.stopAgent(name: "scout-1", reason: "again") }?.code == .invalidTransition)

        agent = try #require(try store.agent(name: "scout-1"))
        #expect(agent.state == .stopped)
        #expect(agent.updatedAt == TestClock.start.addingTimeInterval(2))
        let ticks = try store.ticks(agentName: "scout-1")
        #expect(ticks.count == 1)
        #expect(ticks[0].costMsats == 900 && ticks[0].outcome == "ok" && ticks[0].note == "posted a summary")
        #expect(ticked.data["tick_id"] == .integer(ticks[0].id))
        #expect(
            try store.journal().map(\.kind) == ["agent.created", "agent.started", "agent.ticked", "agent.state_changed", "agent.stopped"])
    }

    @Test("deleting an agent deletes its ticks (ON DELETE CASCADE), through the API and beneath it")
    func cascade() throws {
        let store = try Fixture().store
        for name in ["a", "b"] {
            try store.createAgent(NewAgent(name: name, pubkey: Keypair.generate().publicKey, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0))
            for _ in 0..<3 { try store.recordTick(NewTick(agentName: name, startedAt: TestClock.start, durationMs: 1, outcome: "ok")) }
        }
        let deleted = try store.deleteAgent(name: "a")
        #expect(deleted.data["ticks"] == .integer(3))
        #expect(try store.agent(name: "a") == nil)
        #expect(try store.ticks(agentName: "a").isEmpty)
        #expect(try store.ticks(agentName: "b").count == 3)
        // Beneath the API: the foreign key itself cascades, and refuses orphans
        try raw(store) { db in try db.execute(sql: "DELETE FROM agents WHERE name = 'b'") }
        #expect(try raw(store) { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tick_history") } == 0)
        #expect(throws: DatabaseError.self) {
            try raw(store) { db in
                try db.execute(
                    sql: "INSERT INTO tick_history (agent_name, started_at, duration_ms, outcome) VALUES ('ghost', '2026-11-29T15:00:00.000Z', 1, 'ok')")
            }
        }
        #expect(storeError { try store.recordTick(NewTick(agentName: "ghost", startedAt: TestClock.start, durationMs: 1, outcome: "ok")) }?.code == .notFound)
    }

    @Test("names are path-safe and unique, keys unique")
    func validation() throws {
        let store = try Fixture().store
        let key = Keypair.generate().publicKey
        for name in ["", "../etc", "a b", "ünï", String(repeating: "x", count: 65)] {
            #expect(storeError { try store.createAgent(NewAgent(name: name, pubkey: key, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0)) }?.code == .invalidArgument, "\(name)")
        }
        try store.createAgent(NewAgent(name: "Agent_07-x", pubkey: key, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0))
        #expect(storeError { try store.createAgent(NewAgent(name: "Agent_07-x", pubkey: Keypair.generate().publicKey, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0)) }?.code == .duplicate)
        #expect(storeError { try store.createAgent(NewAgent(name: "other", pubkey: key, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0)) }?.code == .duplicate)
        #expect(storeError { try store.createAgent(NewAgent(name: "zero", pubkey: Keypair.generate().publicKey, goal: "", heartbeatSecs: 0, tickBudgetMsats: 0)) }?.code == .invalidArgument)
        #expect(try store.agents().map(\.name) == ["Agent_07-x"])
    }
}

@Suite("Buyer jobs")
struct BuyerJobTests {
    @Test("a buyer job round-trips: saved, read, listed, updated with feedback and a result")
    func roundTrip() throws {
        let fixture = try Fixture()
        let store = fixture.store
        let event = request("What is Nostr?")
        let job = BuyerJob(
            id: event.id, kind: 5050, provider: provider.publicKey, prompt: "What is Nostr?",
            params: .object([.init("model", .string("llama3.2"))]), bidMsats: 3000, encrypted: true,
            relays: ["wss://a.example.com", "wss://b.example.com"], createdAt: TestClock.start.addingTimeInterval(-1.0004))
        // When saved
        let saved = try store.saveBuyerJob(job)
        #expect(saved.updatedAt == TestClock.start)
        #expect(saved.createdAt == TestClock.start.addingTimeInterval(-1))
        #expect(try store.buyerJob(id: event.id) == saved)
        // When feedback and the result arrive
        fixture.clock.advance(2)
        let updated = try store.updateBuyerJob(id: event.id) { job in
            job.status = .paymentRequired
            job.feedback.append(BuyerFeedback(status: .paymentRequired, provider: provider.publicKey, amountMsats: 3000, bolt11: "lnbc30n1", time: TestClock.start.addingTimeInterval(1)))
        }
        #expect(updated.status == .paymentRequired)
        fixture.clock.advance(1)
        try store.updateBuyerJob(id: event.id) { job in
            job.amountPaidMsats = 3000
            job.paymentHash = String(repeating: "5a", count: 32)
            job.feedback.append(BuyerFeedback(status: .processing, provider: provider.publicKey, time: TestClock.start.addingTimeInterval(2.5)))
            job.feedback.append(BuyerFeedback(status: .partial, provider: provider.publicKey, message: "Nostr is", time: TestClock.start.addingTimeInterval(2.6)))
            job.status = .completed
            job.result = "Nostr is a protocol."
            job.resultEventID = resultID(9)
            job.answeredBy = provider.publicKey
        }
        // Then it reads back whole
        let read = try #require(try store.buyerJob(id: event.id))
        #expect(read.status == .completed)
        #expect(read.result == "Nostr is a protocol.")
        #expect(read.resultEventID == resultID(9))
        #expect(read.answeredBy == provider.publicKey)
        #expect(read.amountPaidMsats == 3000)
        #expect(read.paymentHash == String(repeating: "5a", count: 32))
        #expect(read.feedback.map(\.status) == [.paymentRequired, .processing, .partial])
        #expect(read.feedback[0].bolt11 == "lnbc30n1" && read.feedback[0].amountMsats == 3000)
        #expect(read.feedback[2].message == "Nostr is")
        #expect(read.updatedAt == TestClock.start.addingTimeInterval(3))
        #expect(read.encrypted && read.relays == ["wss://a.example.com", "wss://b.example.com"] && read.bidMsats == 3000)
        // And lists
        let other = request("second")
        try store.saveBuyerJob(BuyerJob(id: other.id, kind: 5050, prompt: "second", createdAt: TestClock.start))
        #expect(try store.buyerJobs().map(\.id) == [other.id, event.id])
        #expect(try store.buyerJobs(status: .completed).map(\.id) == [event.id])
        #expect(try store.buyerJobs(status: .timeout).isEmpty)
        // Buyer jobs are not journaled
        #expect(try store.journal().isEmpty)
    }

    @Test("bad buyer jobs are refused; updating a missing one is not_found")
    func validation() throws {
        let store = try Fixture().store
        let event = request()
        #expect(storeError { try store.saveBuyerJob(BuyerJob(id: event.id, kind: 1, prompt: "x", createdAt: TestClock.start)) }?.code == .invalidArgument)
        #expect(storeError { try store.saveBuyerJob(BuyerJob(id: event.id, kind: 5050, prompt: "x", params: .string("no"), createdAt: TestClock.start)) }?.code == .invalidArgument)
        #expect(storeError { try store.updateBuyerJob(id: event.id) { $0.status = .error } }?.code == .notFound)
        try store.saveBuyerJob(BuyerJob(id: event.id, kind: 5050, prompt: "x", createdAt: TestClock.start))
        let before = try store.buyerJob(id: event.id)
        #expect(storeError { try store.updateBuyerJob(id: event.id) { $0.amountPaidMsats = -1 } }?.code == .invalidArgument)
        #expect(try store.buyerJob(id: event.id) == before)
    }
}

@Suite("Agents: what a tick and a wallet record")
struct AgentRecordTests {
    @Test("a tick keeps its provider and note; the journal says tokens, provider and note_id; balances and summaries read back")
    func tickAndBalance() throws {
        let fixture = try Fixture()
        let store = fixture.store
        try store.createAgent(NewAgent(name: "scribe", pubkey: Keypair.generate().publicKey, goal: "", heartbeatSecs: 60, tickBudgetMsats: 0))
        let provider = Keypair.generate().publicKey
        let note = try EventID(hex: String(repeating: "ab", count: 32))
        let entry = try store.recordTick(
            NewTick(
                agentName: "scribe", startedAt: fixture.clock.now, durationMs: 12, promptTokens: 7, completionTokens: 5, costMsats: 0,
                outcome: "ok", note: "published a note", provider: provider, noteID: note))
        #expect(entry.data["tokens"] == .integer(12))
        #expect(entry.data["provider"] == .string(provider.hex) && entry.data["note_id"] == .string(note.hex))
        let tick = try #require(try store.ticks(agentName: "scribe").first)
        #expect(tick.provider == provider && tick.noteID == note)
        #expect(try store.tickSummaries()["scribe"]?.ticks == 1)
        #expect(try store.agent(name: "scribe")?.balanceMsats == nil)
        try store.setAgentBalance(name: "scribe", msats: 42_000)
        #expect(try store.agent(name: "scribe")?.balanceMsats == 42_000)
        #expect(storeError { try store.setAgentBalance(name: "scribe", msats: -1) }?.code == .invalidArgument)
        #expect(storeError { try store.setAgentBalance(name: "nobody", msats: 1) } != nil)
        // A process start keeps the state its funds gave it; an owner's start revives a stopped one.
        try store.setAgentState(name: "scribe", to: .dormant, reason: "empty")
        #expect(try store.startAgent(name: "scribe", pid: 4242).data["to"] == .string("dormant"))
        try store.stopAgent(name: "scribe", reason: "owner")
        #expect(try store.startAgent(name: "scribe").data["to"] == .string("active"))
        // The journal rebuilds the same tick.
        let replayed = try JournalReplay.rebuild(from: store.journal())
        #expect(replayed.ticks.first?.provider == provider && replayed.ticks.first?.noteID == note)
        #expect(replayed.agents.first?.state == .active)
    }
}
