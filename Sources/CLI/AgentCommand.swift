import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import NostrCore
import Payments
import PylonBasics
import PylonStore

/// `pylon agent …`: host mode's agents (SPEC §3, §9). Each command works on pylon.db directly and,
/// when a daemon runs, tells it over the control socket so that its supervisor starts or stops
/// the agent's process at once.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Host sovereign agents: each has its own identity and wallet and buys its thinking on the market.",
        subcommands: [Spawn.self, List.self, Info.self, Fund.self, Start.self, Stop.self, Delete.self, Logs.self])

    /// The agent names the store and the file layout accept: 1 to 64 of `A-Z a-z 0-9 _ -`.
    static func checkName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
        guard !name.isEmpty, name.utf8.count <= 64, allowed else {
            throw Output.fail("\"\(name.prefix(80))\" is not an agent name: use 1 to 64 letters, digits, '_' or '-' (it names files)")
        }
    }

    static func openStore(_ paths: PylonPaths) throws -> PylonStore {
        do {
            try FileSystem.makePrivateDirectory(paths.runtimeDirectory)
            return try PylonStore.open(path: paths.database.path)
        } catch let error as PylonStoreError {
            throw Output.fail(error.message)
        } catch let error as DaemonError {
            throw Output.fail(error.message)
        }
    }

    static func agent(_ name: String, in store: PylonStore) throws -> Agent {
        try checkName(name)
        guard let agent = try? store.agent(name: name) else {
            throw Output.fail("no agent named \(name); `pylon agent list` shows them")
        }
        return agent
    }

    /// Tells a running daemon that an agent's row changed; false when no daemon runs.
    @discardableResult
    static func tellDaemon(_ paths: PylonPaths, _ name: String) -> Bool {
        guard RuntimeFiles.runningPID(paths) != nil else { return false }
        let answer = try? ControlClient.send(.agentChanged(name: name), socketPath: paths.controlSocket.path, timeout: .seconds(5))
        if case .error(let message)? = answer { Output.warning(message) }
        return answer == .ok
    }

    /// The reports: from the daemon (with processes) when one runs, else from pylon.db.
    static func reports(_ paths: PylonPaths, store: PylonStore) throws -> [AgentReport] {
        if RuntimeFiles.runningPID(paths) != nil,
            case .agents(let reports)? = try? ControlClient.send(.agents, socketPath: paths.controlSocket.path, timeout: .seconds(5))
        {
            return reports
        }
        do {
            return try AgentReports.make(store: store)
        } catch {
            throw Output.fail(error.message)
        }
    }

    static func printJSON(_ json: JSON) {
        print(json.serialized)
    }

    static func describe(_ report: AgentReport) -> [String] {
        var lines = [
            "\(report.name)  \(report.state.rawValue)\(report.pid.map { "  pid \($0)" } ?? "")",
            "  npub      \(report.npub)",
            "  goal      \(report.goal.isEmpty ? "(none)" : report.goal)",
            "  ticks     \(report.ticks), every \(report.intervalSecs) s\(report.lastTick.map { ", last at \(RFC3339.string(from: $0))" } ?? "")",
            "  budget    \(report.budgetMsats == 0 ? "0 (free providers only)" : "\(Sats.text(report.budgetMsats)) a tick")",
        ]
        if let balance = report.balanceMsats { lines.append("  balance   \(Sats.text(balance))") }
        if report.restarts > 0 { lines.append("  restarts  \(report.restarts)") }
        return lines
    }

    // MARK: spawn

    struct Spawn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an agent with its own identity (and wallet), and start it when the daemon hosts agents.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Its name: 1 to 64 letters, digits, '_' or '-'.") var name: String
        @Option(help: "What it is for; every request it makes carries it.") var goal: String = ""
        @Option(help: ArgumentHelp("Seconds between ticks.", valueName: "secs")) var interval: Int = 600
        @Option(name: .customLong("budget-msats"), help: "The most one tick may pay; 0 buys only from free providers.") var budgetMsats: Int64 = 0
        @Option(help: ArgumentHelp("The agent's own wallet (nostr+walletconnect://…), kept 0600.", valueName: "uri")) var nwc: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try AgentCommand.checkName(name)
            guard interval > 0 else { throw Output.fail("--interval must be at least 1 second") }
            guard budgetMsats >= 0 else { throw Output.fail("--budget-msats must not be negative") }
            guard goal.utf8.count <= 2_000 else {
                throw Output.fail("the goal is \(goal.utf8.count) bytes; a request carries at most 2000")
            }
            var wallet: WalletConnectURI?
            if let nwc {
                do {
                    wallet = try WalletConnectURI(parsing: nwc)
                } catch {
                    throw Output.fail("the wallet connection is not valid: \(error.message)")
                }
            }
            if budgetMsats > 0, wallet == nil {
                Output.warning("a budget without --nwc: the agent has no wallet to pay from and waits (spawning) until it gets one")
            }
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            if (try? store.agent(name: name)) ?? nil != nil {
                throw Output.fail("an agent named \(name) already exists; `pylon agent delete \(name)` first")
            }
            let identity: Identity
            do {
                identity = try AgentFiles.create(name, paths: paths, wallet: wallet)
                try store.createAgent(
                    NewAgent(
                        name: name, pubkey: identity.publicKey, goal: goal, heartbeatSecs: interval, tickBudgetMsats: budgetMsats,
                        state: budgetMsats == 0 ? .active : .spawning))
            } catch let error as DaemonError {
                throw Output.fail(error.message)
            } catch let error as PylonStoreError {
                AgentFiles.remove(name, paths: paths)
                throw Output.fail(error.message)
            }
            let started = AgentCommand.tellDaemon(paths, name)
            if output.json {
                let report = AgentReport(
                    name: name, npub: identity.npub, state: budgetMsats == 0 ? .active : .spawning, goal: goal, intervalSecs: interval,
                    budgetMsats: budgetMsats)
                return AgentCommand.printJSON(report.json)
            }
            Output.line("agent \(name) created: \(identity.npub)")
            Output.line("its phrase (shown once; kept 0600 in \(paths.agent(name).identityFile.path)):")
            Output.line("  \(identity.mnemonic.phrase)")
            Output.line(started ? "the daemon started it" : "it starts with the daemon in mode host or both (`pylon start`)")
        }
    }

    // MARK: list, info

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The agents, their states and processes.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            let reports = try AgentCommand.reports(paths, store: store)
            if output.json { return AgentCommand.printJSON(.array(reports.map(\.json))) }
            if reports.isEmpty {
                Output.line("no agents; create one with `pylon agent spawn NAME --goal TEXT`")
                return
            }
            for report in reports {
                Output.line(
                    "\(report.name.padding(toLength: max(12, report.name.count), withPad: " ", startingAt: 0))  \(report.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \(report.ticks) ticks  \(report.pid.map { "pid \($0)" } ?? "no process")")
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One agent: its key, state, process, budget, wallet and ticks.")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            _ = try AgentCommand.agent(name, in: store)
            guard let report = try AgentCommand.reports(paths, store: store).first(where: { $0.name == name }) else {
                throw Output.fail("no agent named \(name)")
            }
            if output.json { return AgentCommand.printJSON(report.json) }
            AgentCommand.describe(report).forEach { Output.line($0) }
            let ticks = (try? store.ticks(agentName: name, limit: 5)) ?? []
            if !ticks.isEmpty {
                Output.line("  recent ticks:")
                for tick in ticks {
                    Output.line("    \(RFC3339.string(from: tick.startedAt))  \(tick.outcome)  \(tick.costMsats) msats  \(tick.note ?? "")")
                }
            }
        }
    }

    // MARK: start, stop, delete

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a stopped agent.")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            let agent = try AgentCommand.agent(name, in: store)
            if agent.state == .stopped {
                do {
                    try store.startAgent(name: name)
                } catch {
                    throw Output.fail(error.message)
                }
            }
            let told = AgentCommand.tellDaemon(paths, name)
            Output.line(told ? "agent \(name) started" : "agent \(name) will run when the daemon runs in mode host or both")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop an agent; it stays stopped until `agent start`.")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            let agent = try AgentCommand.agent(name, in: store)
            guard agent.state != .stopped else {
                Output.line("agent \(name) is already stopped")
                return
            }
            do {
                try store.stopAgent(name: name, reason: "stopped by its owner")
            } catch {
                throw Output.fail(error.message)
            }
            AgentCommand.tellDaemon(paths, name)
            Output.line("agent \(name) stopped")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an agent: its process, record, ticks, identity and wallet connection.")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Flag(help: "Do not ask.") var yes = false

        func run() async throws {
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            let agent = try AgentCommand.agent(name, in: store)
            if !yes {
                guard isatty(STDIN_FILENO) != 0 else {
                    throw Output.fail("deleting agent \(name) loses its identity (\(agent.pubkey.npub)); pass --yes to confirm")
                }
                FileHandle.standardError.write(Data("Delete agent \(name) (\(agent.pubkey.npub)) and its phrase? [y/N] ".utf8))
                guard let answer = readLine(), answer.lowercased().hasPrefix("y") else {
                    Output.line("kept agent \(name)")
                    return
                }
            }
            do {
                try store.deleteAgent(name: name)
            } catch {
                throw Output.fail(error.message)
            }
            AgentCommand.tellDaemon(paths, name)
            AgentFiles.remove(name, paths: paths)
            Output.line("agent \(name) deleted")
        }
    }

    // MARK: fund

    struct Fund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pay an invoice of the agent's wallet from this node's wallet.")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Argument(help: "How many satoshis.") var sats: Int64
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            let name: String
            let amountMsats: Int64
            let paymentHash: String
        }

        func run() async throws {
            guard sats > 0, sats <= 21_000_000 * 100_000_000 else { throw Output.fail("fund with a positive number of satoshis") }
            let paths = global.paths
            let store = try AgentCommand.openStore(paths)
            _ = try AgentCommand.agent(name, in: store)
            let agentWallet: WalletConnectURI
            do {
                guard let uri = try AgentFiles.wallet(name, paths: paths) else {
                    throw Output.fail("agent \(name) has no wallet to fund; spawn it with --nwc URI")
                }
                agentWallet = uri
            } catch let error as DaemonError {
                throw Output.fail(error.message)
            }
            let nodeWallet = try WalletCommand.configuredURI(paths)
            let name = name
            let amount = sats * 1000
            let invoice = try await WalletCommand.run(agentWallet) { client throws(PaymentsError) in
                try await client.makeInvoice(amountMsats: amount, description: "pylon: funding agent \(name)", expirySeconds: 600).invoice
            }
            _ = try await WalletCommand.run(nodeWallet) { client throws(PaymentsError) in
                try await client.payInvoice(invoice)
            }
            AgentCommand.tellDaemon(paths, name)
            if output.json { return try Output.json(Report(name: name, amountMsats: amount, paymentHash: invoice.paymentHash.hex)) }
            Output.line("paid \(Sats.text(amount)) into agent \(name)'s wallet")
        }
    }

    // MARK: logs

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An agent's log (its process's output).")

        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Flag(name: [.short, .long], help: "Keep printing as it grows.") var follow = false
        @Option(name: [.short, .customLong("lines")], help: "How many of the last lines.") var lines: Int = 50

        func run() async throws {
            try AgentCommand.checkName(name)
            let file = global.paths.agentLog(name)
            guard let handle = try? FileHandle(forReadingFrom: file) else {
                throw Output.fail("agent \(name) has no log yet (\(file.path))")
            }
            defer { try? handle.close() }
            let data = (try? handle.readToEnd()) ?? Data()
            let text = String(decoding: data, as: UTF8.self)
            let last = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
            FileHandle.standardOutput.write(Data(last.joined(separator: "\n").utf8))
            guard follow else { return }
            var offset = (try? handle.offset()) ?? UInt64(data.count)
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(250))
                let size = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.uint64Value ?? 0
                if size < offset { offset = 0 }  // rotated in place
                try? handle.seek(toOffset: offset)
                if let more = try? handle.readToEnd(), !more.isEmpty {
                    FileHandle.standardOutput.write(more)
                    offset += UInt64(more.count)
                }
            }
        }
    }
}

/// The hidden entry point of an agent's process (the supervisor runs it).
struct AgentEntryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__agent", shouldDisplay: false)

    @Argument var name: String
    @Option(name: .customLong("config-dir")) var configDirectory: String
    @Option(name: .customLong("runtime-dir")) var runtimeDirectory: String
    @Option var config: String?

    func run() async throws {
        let paths = PylonPaths(
            configDirectory: URL(fileURLWithPath: configDirectory, isDirectory: true),
            runtimeDirectory: URL(fileURLWithPath: runtimeDirectory, isDirectory: true))
        do {
            try await AgentProcess.run(name: name, paths: paths, configFile: config.map { URL(fileURLWithPath: $0) } ?? paths.configFile)
        } catch let error as DaemonError {
            throw Output.fail("agent \(name): \(error.message)")
        }
    }
}
