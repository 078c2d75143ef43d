import GRDB
import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// Host mode (SPEC §9): the agents and their tick history. Deleting an agent deletes its ticks
// (ON DELETE CASCADE).

extension PylonStore {
    /// Records a new agent (`spawning` unless said otherwise); appends `agent.created`. A name or
    /// public key in use is `duplicate`.
    @discardableResult
    public func createAgent(_ agent: NewAgent) throws(PylonStoreError) -> JournalRecord {
        try Self.validateAgentName(agent.name)
        guard agent.heartbeatSecs > 0, agent.tickBudgetMsats >= 0 else {
            throw PylonStoreError(.invalidArgument, "agent \(agent.name): the heartbeat must be positive and the budget not negative")
        }
        return try write("create agent \(agent.name)") { tx in
            if try Self.agentState(tx.db, agent.name) != nil {
                throw PylonStoreError(.duplicate, "an agent named \(agent.name) already exists")
            }
            if try String.fetchOne(tx.db.cachedStatement(sql: "SELECT name FROM agents WHERE pubkey = ?"), arguments: [agent.pubkey.hex])
                != nil
            {
                throw PylonStoreError(.duplicate, "another agent already has the public key \(agent.pubkey.hex)")
            }
            try tx.execute(
                """
                INSERT INTO agents (name, pubkey, state, goal, heartbeat_secs, tick_budget_msats, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    agent.name, agent.pubkey.hex, agent.state.rawValue, agent.goal, agent.heartbeatSecs, agent.tickBudgetMsats,
                    tx.nowText, tx.nowText,
                ])
            return try tx.journal(
                JournalKind.agentCreated,
                StoreJSON.object([
                    "name": .string(agent.name), "pubkey": .string(agent.pubkey.hex), "state": .string(agent.state.rawValue),
                    "goal": .string(agent.goal), "heartbeat_secs": StoreJSON.int(agent.heartbeatSecs),
                    "tick_budget_msats": .integer(agent.tickBudgetMsats),
                ]))
        }
    }

    /// The agent's process (re)started (`pid`), or its owner started a stopped agent: appends
    /// `agent.started` with the state it left (`from`) and the one it is in (`to`). A stopped agent
    /// becomes `active` (its process then finds its funds); any other state stays, as its funds
    /// decide it.
    @discardableResult
    public func startAgent(name: String, pid: Int32? = nil) throws(PylonStoreError) -> JournalRecord {
        try write("start agent \(name)") { tx in
            let from = try Self.requireAgent(tx.db, name, to: "start")
            let to: AgentState = from == .stopped ? .active : from
            try tx.execute("UPDATE agents SET state = ?, updated_at = ? WHERE name = ?", [to.rawValue, tx.nowText, name])
            return try tx.journal(
                .agentStarted,
                StoreJSON.object([
                    "name": .string(name), "from": .string(from.rawValue), "to": .string(to.rawValue), "pid": pid.map { .integer(Int64($0)) } ?? .null,
                ]))
        }
    }

    /// Marks the agent `stopped`; appends `agent.stopped`. Stopping a stopped agent is
    /// `invalid_transition`.
    @discardableResult
    public func stopAgent(name: String, reason: String) throws(PylonStoreError) -> JournalRecord {
        try write("stop agent \(name)") { tx in
            let from = try Self.requireAgent(tx.db, name, to: "stop")
            guard from != .stopped else {
                throw PylonStoreError(.invalidTransition, "cannot stop agent \(name): it is already stopped")
            }
            try tx.execute("UPDATE agents SET state = 'stopped', updated_at = ? WHERE name = ?", [tx.nowText, name])
            return try tx.journal(
                .agentStopped, StoreJSON.object(["name": .string(name), "from": .string(from.rawValue), "reason": .string(reason)]))
        }
    }

    /// Moves the agent to another lifecycle state (funding: `low_balance`, `dormant`, back to
    /// `active`); appends `agent.state_changed`. Returns nil and writes nothing when the agent is
    /// already in that state, so a supervisor may say it on every balance check.
    @discardableResult
    public func setAgentState(name: String, to state: AgentState, reason: String) throws(PylonStoreError) -> JournalRecord? {
        try write("change the state of agent \(name)") { tx in
            let from = try Self.requireAgent(tx.db, name, to: "change the state of")
            guard from != state else { return nil }
            try tx.execute("UPDATE agents SET state = ?, updated_at = ? WHERE name = ?", [state.rawValue, tx.nowText, name])
            return try tx.journal(
                JournalKind.agentStateChanged,
                StoreJSON.object([
                    "name": .string(name), "from": .string(from.rawValue), "to": .string(state.rawValue), "reason": .string(reason),
                ]))
        }
    }

    /// Records one tick in `tick_history`; appends `agent.ticked`.
    @discardableResult
    public func recordTick(_ tick: NewTick) throws(PylonStoreError) -> JournalRecord {
        guard tick.durationMs >= 0, tick.promptTokens >= 0, tick.completionTokens >= 0, tick.costMsats >= 0, !tick.outcome.isEmpty
        else {
            throw PylonStoreError(.invalidArgument, "tick of agent \(tick.agentName): counts must not be negative and the outcome not empty")
        }
        let startedAt = RFC3339.rounded(tick.startedAt)
        return try write("record a tick of agent \(tick.agentName)") { tx in
            _ = try Self.requireAgent(tx.db, tick.agentName, to: "record a tick of")
            try tx.execute(
                """
                INSERT INTO tick_history
                    (agent_name, started_at, duration_ms, prompt_tokens, completion_tokens, cost_msats, outcome, note, provider, note_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    tick.agentName, RFC3339.string(from: startedAt), tick.durationMs, tick.promptTokens, tick.completionTokens,
                    tick.costMsats, tick.outcome, tick.note, tick.provider?.hex, tick.noteID?.hex,
                ])
            let tickID = tx.db.lastInsertedRowID
            try tx.execute("UPDATE agents SET updated_at = ? WHERE name = ?", [tx.nowText, tick.agentName])
            return try tx.journal(
                JournalKind.agentTicked,
                StoreJSON.object([
                    "name": .string(tick.agentName), "tick_id": .integer(tickID), "started_at": StoreJSON.time(startedAt),
                    "duration_ms": StoreJSON.int(tick.durationMs), "prompt_tokens": StoreJSON.int(tick.promptTokens),
                    "completion_tokens": StoreJSON.int(tick.completionTokens), "cost_msats": .integer(tick.costMsats),
                    "tokens": StoreJSON.int(tick.promptTokens + tick.completionTokens), "provider": StoreJSON.text(tick.provider?.hex),
                    "note_id": StoreJSON.text(tick.noteID?.hex), "outcome": .string(tick.outcome), "note": StoreJSON.text(tick.note),
                ]))
        }
    }

    /// Deletes the agent and, by cascade, its ticks; appends `agent.deleted`.
    @discardableResult
    public func deleteAgent(name: String) throws(PylonStoreError) -> JournalRecord {
        try write("delete agent \(name)") { tx in
            _ = try Self.requireAgent(tx.db, name, to: "delete")
            let ticks =
                try Int.fetchOne(tx.db.cachedStatement(sql: "SELECT count(*) FROM tick_history WHERE agent_name = ?"), arguments: [name])
                ?? 0
            try tx.execute("DELETE FROM agents WHERE name = ?", [name])
            return try tx.journal(.agentDeleted, StoreJSON.object(["name": .string(name), "ticks": StoreJSON.int(ticks)]))
        }
    }

    /// One agent, or nil.
    public func agent(name: String) throws(PylonStoreError) -> Agent? {
        try read("read agent \(name)") { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Agent.columns) FROM agents WHERE name = ?"), arguments: [name])
                .map { try Agent(row: $0) }
        }
    }

    /// What the agent's wallet held when the agent last looked (nil: no wallet). Journals nothing:
    /// a reading, not a change of state.
    public func setAgentBalance(name: String, msats: Int64?) throws(PylonStoreError) {
        if let msats, msats < 0 { throw PylonStoreError(.invalidArgument, "agent \(name): a balance is not negative") }
        try write("record the balance of agent \(name)") { tx in
            _ = try Self.requireAgent(tx.db, name, to: "record the balance of")
            try tx.execute("UPDATE agents SET balance_msats = ? WHERE name = ?", [msats, name])
        }
    }

    /// Each agent's tick count and last tick, by name.
    public func tickSummaries() throws(PylonStoreError) -> [String: (ticks: Int, last: Date?)] {
        try read("summarize ticks") { db in
            var summaries: [String: (ticks: Int, last: Date?)] = [:]
            let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT agent_name, count(*), max(started_at) FROM tick_history GROUP BY agent_name"))
            for row in rows {
                var r = RowReader(row, table: "tick_history")
                let name = try r.text()
                summaries[name] = (try r.int(), try r.optionalDate())
            }
            return summaries
        }
    }

    /// All agents by name.
    public func agents() throws(PylonStoreError) -> [Agent] {
        try read("list agents") { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Agent.columns) FROM agents ORDER BY name")).map { try Agent(row: $0) }
        }
    }

    /// An agent's ticks, newest first.
    public func ticks(agentName: String, limit: Int = 50) throws(PylonStoreError) -> [Tick] {
        try read("list the ticks of agent \(agentName)") { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(Tick.columns) FROM tick_history WHERE agent_name = ? ORDER BY started_at DESC, id DESC LIMIT ?")
            return try Row.fetchAll(statement, arguments: [agentName, max(limit, 0)]).map { try Tick(row: $0) }
        }
    }

    static func validateAgentName(_ name: String) throws(PylonStoreError) {
        let valid =
            !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy {
                ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D
            }
        guard valid else {
            throw PylonStoreError(.invalidArgument, "agent name \"\(name.prefix(80))\" is not 1 to 64 of A-Z, a-z, 0-9, '_' and '-'")
        }
    }

    static func agentState(_ db: Database, _ name: String) throws -> AgentState? {
        guard let text = try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM agents WHERE name = ?"), arguments: [name]) else {
            return nil
        }
        guard let state = AgentState(rawValue: text) else {
            throw PylonStoreError(.corruptData, "agents.state of \(name) holds \"\(text.prefix(40))\", not a known state")
        }
        return state
    }

    static func requireAgent(_ db: Database, _ name: String, to verb: String) throws -> AgentState {
        guard let state = try agentState(db, name) else {
            throw PylonStoreError(.notFound, "cannot \(verb) agent \(name): no such agent")
        }
        return state
    }
}

extension Agent {
    static let columns = "name, pubkey, state, goal, heartbeat_secs, tick_budget_msats, created_at, updated_at, balance_msats"

    init(row: Row) throws {
        var r = RowReader(row, table: "agents")
        self.name = try r.text()
        self.pubkey = try r.publicKey()
        self.state = try r.enumeration(AgentState.self)
        self.goal = try r.text()
        self.heartbeatSecs = try r.int()
        self.tickBudgetMsats = try r.int64()
        self.createdAt = try r.date()
        self.updatedAt = try r.date()
        self.balanceMsats = try r.optionalInt64()
    }
}

extension Tick {
    static let columns = "id, agent_name, started_at, duration_ms, prompt_tokens, completion_tokens, cost_msats, outcome, note, provider, note_id"

    init(row: Row) throws {
        var r = RowReader(row, table: "tick_history")
        self.id = try r.int64()
        self.agentName = try r.text()
        self.startedAt = try r.date()
        self.durationMs = try r.int()
        self.promptTokens = try r.int()
        self.completionTokens = try r.int()
        self.costMsats = try r.int64()
        self.outcome = try r.text()
        self.note = try r.optionalText()
        self.provider = try r.optionalPublicKey()
        self.noteID = try r.optionalEventID()
    }
}
