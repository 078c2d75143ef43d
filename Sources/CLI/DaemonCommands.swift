public import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import PylonBasics

extension DaemonMode: ExpressibleByArgument {}

/// `pylon start`: starts the daemon, in the background unless `-f`.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the daemon (in the background unless --foreground); exits once it answers."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Run in the foreground with logs on stderr.")
    var foreground = false

    @Option(name: [.short, .long], help: "provider, host or both.")
    var mode: DaemonMode = .both

    @Option(name: [.short, .long], help: ArgumentHelp("The config file (default: config.toml in the config directory).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for a background daemon to answer.", valueName: "secs"))
    var wait: Double = 15

    func run() async throws {
        let paths = global.paths
        let configFile = config.map { URL(fileURLWithPath: $0).standardizedFileURL }
        if foreground {
            try await Self.runDaemon(DaemonOptions(paths: paths, mode: mode, configFile: configFile, foreground: true))
            return
        }
        if let pid = RuntimeFiles.runningPID(paths) {
            throw Output.fail("pylon is already running (pid \(pid)); `pylon stop` stops it")
        }
        guard IdentityStore(paths: paths).exists else {
            throw Output.fail("no identity at \(paths.identityFile.path); create one with `pylon init`")
        }
        var arguments = ["__daemon", "--home", paths.runtimeDirectory.path, "--mode", mode.rawValue]
        if paths.configDirectory != paths.runtimeDirectory {
            arguments = ["__daemon", "--config-dir", paths.configDirectory.path, "--runtime-dir", paths.runtimeDirectory.path, "--mode", mode.rawValue]
        }
        if let configFile { arguments += ["--config", configFile.path] }
        let child: ProcessControl.Child
        do {
            child = try ProcessControl.spawnDetached(
                ProcessControl.executablePath, arguments: arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw Output.fail(error.message)
        }
        defer { close(child.stderr) }
        var errorOutput: [UInt8] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
        while ContinuousClock.now < deadline {
            _ = ProcessControl.drain(child.stderr, into: &errorOutput)
            if let status = ProcessControl.exitStatus(of: child.pid) {
                _ = ProcessControl.drain(child.stderr, into: &errorOutput)
                let message = Self.reason(errorOutput)
                throw Output.fail(message.isEmpty ? "the daemon exited with status \(status) before answering; see \(paths.logFile.path)" : message)
            }
            if (try? ControlClient.send(.ping, socketPath: paths.controlSocket.path, timeout: .seconds(1))) == .pong {
                Output.line("pylon started (pid \(child.pid)); control socket \(paths.controlSocket.path)")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw Output.fail("the daemon (pid \(child.pid)) did not answer within \(Int(wait)) s; see \(paths.logFile.path)")
    }

    /// What the background daemon printed before it exited: its own `error: …` lines, without
    /// that prefix, which `Output.fail` adds once.
    static func reason(_ output: [UInt8]) -> String {
        String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            .map { line in line.hasPrefix("error: ") ? line.dropFirst("error: ".count) : line }
            .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs the daemon in this process until it stops; startup errors print and exit non-zero.
    static func runDaemon(_ options: DaemonOptions) async throws {
        let daemon: PylonDaemon
        do {
            daemon = try await PylonDaemon.build(options)
        } catch {
            throw Output.fail(error.message)
        }
        do {
            try await daemon.run()
        } catch {
            throw Output.fail("the daemon stopped after an error: \(error)")
        }
    }
}

/// The hidden entry point of a background daemon (`pylon start` re-executes itself with it).
struct DaemonEntryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__daemon", shouldDisplay: false)

    @Option var home: String?
    @Option(name: .customLong("config-dir")) var configDirectory: String?
    @Option(name: .customLong("runtime-dir")) var runtimeDirectory: String?
    @Option var mode: DaemonMode = .both
    @Option var config: String?

    func run() async throws {
        let paths: PylonPaths
        if let configDirectory, let runtimeDirectory {
            paths = PylonPaths(
                configDirectory: URL(fileURLWithPath: configDirectory, isDirectory: true),
                runtimeDirectory: URL(fileURLWithPath: runtimeDirectory, isDirectory: true))
        } else {
            paths = PylonPaths.resolve(home: home)
        }
        try await StartCommand.runDaemon(
            DaemonOptions(paths: paths, mode: mode, configFile: config.map { URL(fileURLWithPath: $0) }, foreground: false, detached: true))
    }
}

/// `pylon stop`: graceful stop over the socket; after the timeout, SIGTERM ends the daemon's drain
/// (its running jobs are answered with an error and it exits within 2 s); SIGKILL with --force.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop the daemon gracefully; after --timeout, stop its running jobs with an error.")

    @OptionGroup var global: GlobalOptions

    @Option(
        name: [.short, .long],
        help: ArgumentHelp(
            "Seconds running jobs may take to finish; then SIGTERM ends them with an error and the daemon exits within 2 s.",
            valueName: "secs"))
    var timeout: Double = 10

    @Flag(name: [.short, .long], help: "If it still runs 5 s after SIGTERM, kill it (SIGKILL).")
    var force = false

    func validate() throws {
        guard timeout >= 0, timeout.isFinite else { throw ValidationError("--timeout must be a number of seconds, 0 or more") }
    }

    func run() async throws {
        let paths = global.paths
        guard let pid = RuntimeFiles.runningPID(paths) else {
            throw Output.fail("pylon is not running (no daemon holds \(paths.pidFile.path))")
        }
        let asked = (try? ControlClient.send(.shutdown, socketPath: paths.controlSocket.path, timeout: .seconds(2))) == .ok
        if !asked {
            // The socket did not answer: a first SIGTERM starts the same graceful stop.
            kill(pid, SIGTERM)
        }
        if await Self.awaitExit(paths, timeout: timeout) {
            Output.line("pylon stopped (pid \(pid))")
            return
        }
        // A daemon already stopping takes a second SIGTERM as "end the drain now".
        Output.warning("the daemon did not stop within \(Self.seconds(timeout)) s; sending SIGTERM to pid \(pid): running jobs are stopped and answered with an error")
        kill(pid, SIGTERM)
        if await Self.awaitExit(paths, timeout: 5) {
            Output.line("pylon stopped (pid \(pid))")
            return
        }
        guard force else {
            throw Output.fail("pylon (pid \(pid)) is still running 5 s after SIGTERM; `pylon stop --force` kills it")
        }
        Output.warning("sending SIGKILL to pid \(pid)")
        kill(pid, SIGKILL)
        if await Self.awaitExit(paths, timeout: 5) {
            // A killed daemon cannot clean up; the next start replaces its stale files.
            try? FileManager.default.removeItem(at: paths.controlSocket)
            try? FileManager.default.removeItem(at: paths.pidFile)
            Output.line("pylon killed (pid \(pid))")
            return
        }
        throw Output.fail("pylon (pid \(pid)) did not exit even after SIGKILL")
    }

    /// "10", "0.5".
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e15 ? String(Int(value)) : String(value)
    }

    /// Waits until no daemon holds the PID lock.
    static func awaitExit(_ paths: PylonPaths, timeout: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        repeat {
            if RuntimeFiles.runningPID(paths) == nil { return true }
            try? await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        return RuntimeFiles.runningPID(paths) == nil
    }
}

/// `pylon reload`: re-reads the config in the running daemon.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Re-read the config in the running daemon (as SIGHUP).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let paths = global.paths
        let response: ControlResponse
        do {
            response = try ControlClient.send(.reload, socketPath: paths.controlSocket.path, timeout: .seconds(15))
        } catch {
            throw Output.fail(error.code == .notRunning ? "pylon is not running; nothing to reload" : error.message)
        }
        switch response {
        case .reloaded(let summary):
            if output.json {
                try Output.json(summary)
            } else {
                Output.line(summary.message)
                for warning in summary.warnings { Output.warning(warning) }
            }
        case .error(let message):
            throw Output.fail("the config was not reloaded: \(message)")
        default:
            throw Output.fail("unexpected answer from the daemon: \(response.name)")
        }
    }
}
