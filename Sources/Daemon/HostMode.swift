import CoreMetrics
public import ControlProtocol
public import Foundation
public import Host
import Logging
public import NostrCore
import Payments
public import PylonBasics
public import PylonStore
import RelayPool
import ServiceLifecycle
import UnixSignals
import Synchronization

/// Host mode's files (SPEC §2, §9): each agent keeps its identity (`identity.mnemonic`) and its
/// wallet connection (`wallet.nwc`), both 0600, in `agents/NAME/` next to the config; the
/// supervisor keeps each running agent's PID in `agents/NAME.pid` in the runtime directory.
extension PylonPaths {
    public var agentsDirectory: URL { configDirectory.appending(path: "agents", directoryHint: .isDirectory) }

    /// An agent's own files, laid out like a home of its own (its identity and wallet files).
    public func agent(_ name: String) -> PylonPaths {
        let directory = agentsDirectory.appending(path: name, directoryHint: .isDirectory)
        return PylonPaths(configDirectory: directory, runtimeDirectory: directory)
    }

    public var agentPIDDirectory: URL { runtimeDirectory.appending(path: "agents", directoryHint: .isDirectory) }

    public func agentLog(_ name: String) -> URL { agentLogsDirectory.appending(path: "\(name).log") }
}

/// An agent's identity and wallet on disk.
public enum AgentFiles {
    /// Writes a new agent's phrase (and its wallet connection) and returns its identity. Files an
    /// earlier agent of that name left behind are replaced.
    public static func create(_ name: String, paths: PylonPaths, wallet: WalletConnectURI?) throws(DaemonError) -> Identity {
        let home = paths.agent(name)
        remove(name, paths: paths)
        try FileSystem.makePrivateDirectory(paths.agentsDirectory)
        let mnemonic = Mnemonic.generate(wordCount: 12)
        try IdentityStore(paths: home).save(mnemonic, overwrite: true)
        if let wallet {
            try FileSystem.writePrivateFile(home.walletFile, contents: Data((wallet.uri + "\n").utf8))
        }
        return Identity(mnemonic: mnemonic)
    }

    public static func identity(_ name: String, paths: PylonPaths) throws(DaemonError) -> Identity {
        try IdentityStore(paths: paths.agent(name)).load()
    }

    /// The agent's wallet connection; nil when it has none.
    public static func wallet(_ name: String, paths: PylonPaths) throws(DaemonError) -> WalletConnectURI? {
        let file = paths.agent(name).walletFile
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw DaemonError(.fileSystem, "cannot read \(file.path): \(error.localizedDescription)", cause: error)
        }
        do {
            return try WalletConnectURI(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            // The message never quotes the URI: it holds the secret.
            throw DaemonError(.config, "the wallet connection of agent \(name) in \(file.path) is not valid: \(error.message)")
        }
    }

    /// Removes an agent's files (identity, wallet, PID file); its logs stay for `agent logs`.
    public static func remove(_ name: String, paths: PylonPaths) {
        try? FileManager.default.removeItem(at: paths.agent(name).configDirectory)
        try? FileManager.default.removeItem(at: paths.agentPIDDirectory.appending(path: "\(name).pid"))
    }
}

/// The agents as `agent list`, `agent info` and `Status.agents` show them.
public enum AgentReports {
    /// Reports from pylon.db and, when the daemon supervises them, their processes.
    public static func make(store: PylonStore, processes: [String: AgentSupervisor.ProcessState] = [:]) throws(PylonStoreError) -> [AgentReport] {
        let ticks = try store.tickSummaries()
        return try store.agents().map { agent in
            let process = processes[agent.name]
            var state = AgentReport.State(rawValue: agent.state.rawValue) ?? .spawning
            if process?.crashed == true, agent.state != .stopped { state = .crashed }
            return AgentReport(
                name: agent.name, npub: agent.pubkey.npub, state: state, pid: process?.pid, goal: agent.goal,
                intervalSecs: agent.heartbeatSecs, budgetMsats: agent.tickBudgetMsats, balanceMsats: agent.balanceMsats,
                ticks: ticks[agent.name]?.ticks ?? 0, lastTick: ticks[agent.name]?.last, restarts: process?.restarts ?? 0)
        }
    }
}

/// `/metrics` for host mode: agents by state, and the ticks and spending that the agents'
/// processes recorded in pylon.db since the daemon started.
final class HostMetrics: Sendable {
    private let agents: [AgentReport.State: CoreMetrics.Gauge]
    private let ticks = CoreMetrics.Counter(label: "pylon_agent_ticks_total")
    private let spend = CoreMetrics.Counter(label: "pylon_agent_spend_msats_total")
    /// The journal position already counted: its end when the daemon started, then the last entry read.
    private let counted: Mutex<Int64>
    private static let page = 1_000

    init(since start: Int64) {
        var agents: [AgentReport.State: CoreMetrics.Gauge] = [:]
        for state in AgentReport.State.allCases {
            agents[state] = CoreMetrics.Gauge(label: "pylon_agents", dimensions: [("state", state.rawValue)])
        }
        self.agents = agents
        counted = Mutex(start)
    }

    func refresh(store: PylonStore, supervisor: AgentSupervisor) {
        let reports = (try? AgentReports.make(store: store, processes: supervisor.processes)) ?? []
        let counts = StatusReport.AgentCounts(reports)
        for (state, gauge) in agents { gauge.record(counts[state]) }
        // Ticks are journaled by the agents' processes: count the entries since the last look, a
        // page at a time. The position is read and advanced under the lock, so that two scrapes at
        // once do not count an entry twice.
        counted.withLock { last in
            while let entries = try? store.journal(since: last, limit: Self.page), let newest = entries.last {
                for entry in entries where entry.kind == .agentTicked {
                    ticks.increment()
                    if let cost = entry.data["cost_msats"]?.int64Value, cost > 0 { spend.increment(by: cost) }
                }
                last = newest.seq
                if entries.count < Self.page { break }
            }
        }
    }
}

/// The agent's own process (`pylon __agent NAME`): its identity, wallet, relays and pylon.db, and
/// its runner until it ends.
public enum AgentProcess {
    public static func run(name: String, paths: PylonPaths, configFile: URL) async throws {
        let loaded: LoadedConfiguration
        do {
            loaded = try PylonConfiguration.load(from: configFile)
        } catch {
            throw DaemonError(.config, error.description, cause: error)
        }
        var logger = Logger(label: "pylon.agent")
        logger.logLevel = loaded.configuration.log.level
        let identity = try AgentFiles.identity(name, paths: paths)
        let wallet = try AgentFiles.wallet(name, paths: paths)
        let relays: [RelayURL]
        do {
            relays = try loaded.configuration.relayPoolConfiguration(file: configFile.path).relays
        } catch {
            throw DaemonError(.config, error.description, cause: error)
        }
        let store: PylonStore
        do {
            store = try PylonStore.open(path: paths.database.path)
        } catch {
            throw DaemonError(.fileSystem, error.message, cause: error)
        }
        guard let agent = try? store.agent(name: name) else {
            throw DaemonError(.config, "no agent named \(name) in \(paths.database.path)")
        }
        guard agent.pubkey == identity.publicKey else {
            throw DaemonError(.identityInvalid, "the identity of agent \(name) does not match its record (\(agent.pubkey.npub))")
        }
        let runner = AgentRunner(name: name, keypair: identity.keypair, relays: relays, store: store, wallet: wallet, logger: logger)
        // SIGTERM and SIGINT end the runner's task: it stops between ticks or in the middle of one.
        let ending: AgentRunner.Ending = try await withThrowingTaskGroup(of: AgentRunner.Ending?.self) { group in
            group.addTask { try await runner.run() }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { return .cancelled }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let next { return next }
            }
            return .cancelled
        }
        logger.info("agent ended", metadata: ["agent": "\(name)", "reason": "\(ending)"])
    }
}
