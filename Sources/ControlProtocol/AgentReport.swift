public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One hosted agent as `agent list --json`, `agent info NAME --json` and the socket's `Agents`
/// answer show it (SPEC §12): its row, its process and its wallet. Never its phrase nor its
/// wallet's secret.
public struct AgentReport: Sendable, Equatable {
    /// The lifecycle state, or `crashed` while its process waits to be restarted.
    public enum State: String, Sendable, Equatable, CaseIterable {
        case spawning
        case active
        case lowBalance = "low_balance"
        case dormant
        case stopped
        case crashed
    }

    public var name: String
    public var npub: String
    public var state: State
    /// The running process, nil when none runs.
    public var pid: Int32?
    public var goal: String
    public var intervalSecs: Int
    public var budgetMsats: Int64
    /// What the agent's wallet holds; nil without a wallet or when it did not answer.
    public var balanceMsats: Int64?
    public var ticks: Int
    public var lastTick: Date?
    /// Restarts after crashes since the daemon started.
    public var restarts: Int

    public init(
        name: String, npub: String, state: State, pid: Int32? = nil, goal: String, intervalSecs: Int, budgetMsats: Int64,
        balanceMsats: Int64? = nil, ticks: Int = 0, lastTick: Date? = nil, restarts: Int = 0
    ) {
        self.name = name
        self.npub = npub
        self.state = state
        self.pid = pid
        self.goal = goal
        self.intervalSecs = intervalSecs
        self.budgetMsats = budgetMsats
        self.balanceMsats = balanceMsats
        self.ticks = ticks
        self.lastTick = lastTick
        self.restarts = restarts
    }

    /// The keys of the JSON object, in the order they are written (SPEC §12).
    public static let fieldNames = [
        "name", "npub", "state", "pid", "goal", "interval_secs", "budget_msats", "balance_msats", "ticks", "last_tick", "restarts",
    ]
}

extension AgentReport: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "Agent")
        self.name = try reader.string("name")
        self.npub = try reader.string("npub")
        let stateText = try reader.string("state")
        guard let state = State(rawValue: stateText) else {
            throw ControlProtocolError(
                .invalidMessage, "Agent.state: expected one of \(State.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(stateText)\"")
        }
        self.state = state
        self.pid = try reader.optionalInt("pid")
        self.goal = try reader.string("goal")
        self.intervalSecs = try reader.int("interval_secs")
        self.budgetMsats = try reader.int("budget_msats")
        self.balanceMsats = try reader.optionalInt("balance_msats")
        self.ticks = try reader.int("ticks")
        self.lastTick = try reader.optionalDate("last_tick")
        self.restarts = try reader.int("restarts")
    }

    public var json: JSON {
        [
            "name": .string(name), "npub": .string(npub), "state": .string(state.rawValue),
            "pid": pid.map { .integer(Int64($0)) } ?? .null, "goal": .string(goal), "interval_secs": .integer(Int64(intervalSecs)),
            "budget_msats": .integer(budgetMsats), "balance_msats": balanceMsats.map(JSON.integer) ?? .null,
            "ticks": .integer(Int64(ticks)), "last_tick": lastTick.map { .string(RFC3339.string(from: $0)) } ?? .null,
            "restarts": .integer(Int64(restarts)),
        ]
    }
}

extension StatusReport {
    /// How many agents are in each state (SPEC §12 `agents`).
    public struct AgentCounts: Sendable, Equatable {
        public var counts: [AgentReport.State: Int]

        public init(_ counts: [AgentReport.State: Int] = [:]) { self.counts = counts.filter { $0.value != 0 } }

        public init(_ agents: [AgentReport]) {
            self.init(Dictionary(grouping: agents, by: \.state).mapValues(\.count))
        }

        public subscript(state: AgentReport.State) -> Int { counts[state] ?? 0 }

        /// The SPEC's five states, then `spawning`.
        static let order: [AgentReport.State] = [.active, .lowBalance, .dormant, .stopped, .crashed, .spawning]

        var json: JSON { .object(Self.order.map { JSON.Member($0.rawValue, .integer(Int64(self[$0]))) }) }

        init(json: JSON, path: String) throws(ControlProtocolError) {
            let reader = try ObjectReader(json, path: path)
            var counts: [AgentReport.State: Int] = [:]
            for state in Self.order {
                if let count: Int = try reader.optionalInt(state.rawValue), count != 0 { counts[state] = count }
            }
            self.init(counts)
        }
    }
}
