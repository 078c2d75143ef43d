import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import PylonBasics

/// `pylon status`: the daemon's state (SPEC §12), or "not running" with exit code 3.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's state, relays, backends, queue, earnings and agents.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let paths = global.paths
        let report: StatusReport
        do {
            guard case .status(let status) = try ControlClient.send(.status, socketPath: paths.controlSocket.path) else {
                throw Output.fail("the daemon gave an unexpected answer to Status")
            }
            report = status
        } catch let error as ControlClientError where error.code == .notRunning {
            if output.json {
                try Output.json(StatusReport.notRunning)
            } else {
                Output.line(
                    IdentityStore(paths: paths).exists
                        ? "pylon is not running (start it with `pylon start`)"
                        : "pylon is not running, and this home has no identity yet: `pylon init`, then `pylon start`")
            }
            throw ExitCode(3)
        } catch let error as ControlClientError {
            throw Output.fail(error.message)
        }
        if output.json { return try Output.json(report) }
        Output.line("pylon \(report.version) running, pid \(report.pid), mode \(report.mode.rawValue), up \(Self.duration(report.uptimeSecs))")
        Output.line("jobs completed \(report.jobsCompleted), earnings \(report.earningsMsats / 1000) sats (today \(report.earnings.todayMsats / 1000), 7 days \(report.earnings.weekMsats / 1000))")
        Output.line("queue: \(report.queue.running)/\(report.queue.slots) running, \(report.queue.queued)/\(report.queue.maxQueue) queued")
        Output.line("relays:")
        if report.relays.isEmpty { Output.line("  (none configured)") }
        for relay in report.relays {
            let error = relay.lastError.map { " (\($0))" } ?? ""
            Output.line("  \(relay.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(relay.url)\(relay.state == .connected ? "" : error)")
        }
        let notYet = Self.notServing(report)
        if !notYet.isEmpty { Output.line("not serving yet: \(notYet.joined(separator: "; ")) (`pylon doctor` says why)") }
        if report.providerActive {
            Output.line("backends:")
            if report.backends.isEmpty { Output.line("  (none configured)") }
            for backend in report.backends {
                let models = backend.models.isEmpty ? "" : " models: \(backend.models.joined(separator: ", "))"
                Output.line("  \(backend.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(backend.name) \(backend.url)\(models)")
            }
        }
        if report.mode.includesHost {
            let counts = AgentReport.State.allCases.compactMap { state in
                report.agents[state] > 0 ? "\(report.agents[state]) \(state.rawValue.replacingOccurrences(of: "_", with: " "))" : nil
            }
            let supervisor = report.hostActive ? "" : " (the supervisor is not running)"
            Output.line("agents: \(counts.isEmpty ? "none (`pylon agent spawn NAME`)" : counts.joined(separator: ", "))\(supervisor)")
        }
    }

    /// What keeps a running daemon from serving (the readiness of SPEC §12, as the report shows it).
    static func notServing(_ report: StatusReport) -> [String] {
        var reasons: [String] = []
        if report.relays.isEmpty {
            reasons.append("no relays are configured")
        } else if !report.relays.contains(where: { $0.state == .connected }) {
            reasons.append("no relay is connected")
        }
        if report.providerActive && !report.backends.contains(where: { $0.state == .ready && !$0.models.isEmpty }) {
            reasons.append("no inference backend is ready with a model")
        }
        return reasons
    }

    static func duration(_ seconds: UInt64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        if seconds < 86400 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        return "\(seconds / 86400)d \(seconds % 86400 / 3600)h"
    }
}
