import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import PylonBasics
import Synchronization

/// `pylon service install|uninstall|status`: pylon under the operating system's service manager,
/// a systemd user unit on Linux and a launchd agent on macOS, running `pylon start --foreground`.
struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Run pylon as a user service: a systemd user unit (Linux) or a launchd agent (macOS).",
        subcommands: [ServiceInstallCommand.self, ServiceUninstallCommand.self, ServiceStatusCommand.self]
    )
}

struct ServiceInstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the service definition that runs `pylon start --foreground` (with this --home, if any).",
        discussion: "Prints the commands that start it; --now runs them."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    @Option(name: [.short, .long], help: "The mode the service starts in: provider, host or both.")
    var mode: DaemonMode?

    @Option(name: [.short, .long], help: ArgumentHelp("The config file the service reads (default: config.toml in the config directory).", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Also load and start it now (systemctl --user daemon-reload, enable --now; launchctl bootstrap).")
    var now = false

    struct Report: Encodable {
        let manager: String
        let file: String
        let command: [String]
        /// "created", "updated" or "unchanged".
        let action: String
        let started: Bool
        let nextSteps: [String]
    }

    func run() async throws {
        let paths = global.paths
        let manager = ServiceManager()
        let definition = ServiceManager.definition(global: global, paths: paths, mode: mode, config: config)
        let text = manager.text(for: definition, paths: paths)
        let existing = try? String(contentsOf: manager.file, encoding: .utf8)
        let action = existing == nil ? "created" : existing == text ? "unchanged" : "updated"
        if now {
            guard manager.tool != nil else {
                throw Output.fail("\(manager.toolName) is not on PATH, so --now cannot start the service; the file was not written")
            }
            if let pid = RuntimeFiles.runningPID(paths) {
                throw Output.fail("pylon is already running (pid \(pid)) outside the service; `pylon stop` it, then run this again")
            }
        }
        do {
            try FileManager.default.createDirectory(at: manager.file.deletingLastPathComponent(), withIntermediateDirectories: true)
            if manager.kind == .launchd { try FileSystem.makePrivateDirectory(paths.logsDirectory) }
            try Data(text.utf8).write(to: manager.file, options: .atomic)
        } catch let error as DaemonError {
            throw Output.fail(error.message)
        } catch {
            throw Output.fail("cannot write \(manager.file.path): \(error.localizedDescription)")
        }
        var warnings: [String] = []
        if !IdentityStore(paths: paths).exists {
            warnings.append("there is no identity at \(paths.identityFile.path) yet: run `pylon\(ServiceManager.homeOption(definition)) init` before the service starts")
        }
        var started = false
        if now {
            do {
                try manager.load(replacing: action == "updated")
                started = true
            } catch {
                throw Output.fail("\(error.message) (the file \(manager.file.path) is written)")
            }
        }
        let nextSteps = started ? manager.afterStart : manager.startSteps(replacing: action == "updated") + manager.afterStart
        if output.json {
            try Output.json(Report(manager: manager.kind.rawValue, file: manager.file.path, command: definition.arguments, action: action, started: started, nextSteps: nextSteps))
        } else {
            Output.line("\(action == "unchanged" ? "unchanged" : action == "created" ? "wrote" : "updated") \(manager.file.path)")
            Output.line("it runs: \(definition.commandLine)")
            if started { Output.line("started: \(manager.startSteps(replacing: action == "updated").joined(separator: "; "))") }
            Output.line(started ? "then:" : "next:")
            for step in nextSteps { Output.line("  \(step)") }
        }
        for warning in warnings { Output.warning(warning) }
    }
}

struct ServiceUninstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall", abstract: "Stop and disable the service if the service manager runs it, then remove its file.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let manager = ServiceManager()
        guard FileManager.default.fileExists(atPath: manager.file.path) else {
            Output.line("the pylon service is not installed (no \(manager.file.path)); nothing to remove")
            return
        }
        if manager.tool != nil {
            do {
                for step in try manager.unload() { Output.line(step) }
            } catch {
                Output.warning("\(error.message); removing the file anyway")
            }
        }
        do {
            try FileManager.default.removeItem(at: manager.file)
        } catch {
            throw Output.fail("cannot remove \(manager.file.path): \(error.localizedDescription)")
        }
        if manager.tool != nil { manager.forget() }
        Output.line("removed \(manager.file.path)")
    }
}

struct ServiceStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Say whether the service is installed and what the service manager says of it (exit 3 when not installed).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        let installed: Bool
        let manager: String
        let file: String
        /// The installed file runs this binary with this home (`pylon service install` writes it so).
        let upToDate: Bool?
        /// systemd: `systemctl --user is-active` (active, inactive, failed, …); launchd: running,
        /// not running, not loaded. nil when the manager cannot be asked.
        let active: String?
        /// systemd: `systemctl --user is-enabled`; nil on launchd or when it cannot be asked.
        let enabled: String?
        /// Why the manager could not be asked, if it could not.
        let managerError: String?
    }

    func run() async throws {
        let paths = global.paths
        let manager = ServiceManager()
        let existing = try? String(contentsOf: manager.file, encoding: .utf8)
        let installed = existing != nil
        let expected = manager.text(for: ServiceManager.definition(global: global, paths: paths, mode: nil, config: nil), paths: paths)
        let state = manager.tool != nil ? manager.state() : nil
        let managerError = manager.tool == nil ? "\(manager.toolName) is not on PATH" : state?.error
        let report = Report(
            installed: installed, manager: manager.kind.rawValue, file: manager.file.path,
            upToDate: existing.map { manager.sameCommand($0, expected) }, active: state?.active, enabled: state?.enabled, managerError: managerError)
        if output.json {
            try Output.json(report)
        } else if installed {
            Output.line("installed: \(manager.file.path)")
            if report.upToDate == false {
                Output.line("  it runs another binary or home than this command would install; `pylon service install` updates it")
            }
            if let active = report.active {
                Output.line("\(manager.kind.rawValue): \(active)\(report.enabled.map { ", \($0)" } ?? "")")
            } else if let managerError {
                Output.line("\(manager.kind.rawValue): unknown (\(managerError))")
            }
        } else {
            Output.line("not installed (no \(manager.file.path)); `pylon service install` writes it")
        }
        if !installed { throw ExitCode(3) }
    }
}

/// The service manager of this platform, through its command-line tool.
struct ServiceManager {
    enum Kind: String { case systemd, launchd }

    #if os(macOS)
        let kind = Kind.launchd
        let toolName = "launchctl"
        let file = ServiceDefinition.launchdAgentFile()
    #else
        let kind = Kind.systemd
        let toolName = "systemctl"
        let file = ServiceDefinition.systemdUnitFile()
    #endif
    /// The tool's absolute path, when it is on PATH.
    let tool: String?

    init() {
        tool = Self.find(toolName)
    }

    /// The service's command for this invocation: this binary, and `--home` when one was given or
    /// `PYLON_HOME` is set.
    static func definition(global: GlobalOptions, paths: PylonPaths, mode: DaemonMode?, config: String?) -> ServiceDefinition {
        let explicitHome = (global.home?.isEmpty == false) || (ProcessInfo.processInfo.environment["PYLON_HOME"]?.isEmpty == false)
        return ServiceDefinition(
            executable: ProcessControl.executablePath, home: explicitHome ? paths.runtimeDirectory.path(percentEncoded: false) : nil,
            mode: mode?.rawValue, configFile: config.map { URL(fileURLWithPath: $0).standardizedFileURL.path(percentEncoded: false) })
    }

    static func homeOption(_ definition: ServiceDefinition) -> String {
        definition.home.map { " --home \(ServiceDefinition(executable: $0).commandLine)" } ?? ""
    }

    func text(for definition: ServiceDefinition, paths: PylonPaths) -> String {
        switch kind {
        case .systemd: definition.systemdUnit
        case .launchd: definition.launchdPlist(logFile: paths.logsDirectory.appending(path: "launchd.log").path(percentEncoded: false))
        }
    }

    /// Whether an installed file runs the same command as `expected` (the lines that name it).
    func sameCommand(_ installed: String, _ expected: String) -> Bool {
        func command(_ text: String) -> [Substring] {
            let lines = text.split(separator: "\n")
            switch kind {
            case .systemd: return lines.filter { $0.hasPrefix("ExecStart=") }
            case .launchd:
                guard let start = lines.firstIndex(where: { $0.contains("<array>") }), let end = lines.firstIndex(where: { $0.contains("</array>") }), start < end
                else { return [] }
                return Array(lines[start...end])
            }
        }
        return command(installed) == command(expected)
    }

    /// The commands that load and start the service; `replacing` a changed file, they also
    /// restart a service that runs the old one.
    func startSteps(replacing: Bool) -> [String] {
        switch kind {
        case .systemd:
            ["systemctl --user daemon-reload && systemctl --user enable --now pylon"]
                + (replacing ? ["systemctl --user try-restart pylon      # if it ran the old unit"] : [])
        case .launchd:
            (replacing ? ["launchctl bootout gui/$(id -u)/\(ServiceDefinition.launchdLabel)   # if the old one is loaded"] : [])
                + ["launchctl bootstrap gui/$(id -u) \(file.path)"]
        }
    }

    /// What an operator wants to know once it runs.
    var afterStart: [String] {
        switch kind {
        case .systemd:
            [
                "journalctl --user -u pylon -f      # its logs", "systemctl --user reload pylon       # re-read the config (SIGHUP)",
                "loginctl enable-linger $USER       # keep it running while you are logged out",
            ]
        case .launchd:
            ["launchctl print gui/$(id -u)/\(ServiceDefinition.launchdLabel)   # its state; logs: pylon logs does not read it, see launchd.log in the logs directory"]
        }
    }

    /// Loads and starts the service; `replacing` a changed file, a service running the old one
    /// is restarted (systemd) or unloaded first (launchd).
    func load(replacing: Bool) throws(DaemonError) {
        switch kind {
        case .systemd:
            try run(["--user", "daemon-reload"])
            try run(["--user", "enable", "--now", "pylon"])
            if replacing { try run(["--user", "try-restart", "pylon"]) }
        case .launchd:
            if Self.execute(tool ?? toolName, ["print", "gui/\(getuid())/\(ServiceDefinition.launchdLabel)"]).status == 0 {
                try run(["bootout", "gui/\(getuid())/\(ServiceDefinition.launchdLabel)"])
            }
            try run(["bootstrap", "gui/\(getuid())", file.path])
        }
    }

    /// Stops and disables the service when the manager runs it; returns what it did.
    func unload() throws(DaemonError) -> [String] {
        var done: [String] = []
        switch kind {
        case .systemd:
            let state = state()
            if let error = state.error { throw DaemonError(.serviceManager, "systemctl could not ask the user manager: \(error)") }
            if ["active", "activating", "reloading", "deactivating"].contains(state.active ?? "") {
                try run(["--user", "stop", "pylon"])
                done.append("stopped the pylon service")
            }
            if state.enabled == "enabled" {
                try run(["--user", "disable", "pylon"])
                done.append("disabled the pylon service")
            }
        case .launchd:
            if Self.execute(tool ?? toolName, ["print", "gui/\(getuid())/\(ServiceDefinition.launchdLabel)"]).status == 0 {
                try run(["bootout", "gui/\(getuid())/\(ServiceDefinition.launchdLabel)"])
                done.append("stopped and unloaded the pylon agent")
            }
        }
        return done
    }

    /// After the file is gone: the manager forgets the unit (best effort).
    func forget() {
        if kind == .systemd { _ = Self.execute(tool ?? toolName, ["--user", "daemon-reload"]) }
    }

    /// What the manager says: active state, enabled state, or why it could not say.
    func state() -> (active: String?, enabled: String?, error: String?) {
        switch kind {
        case .systemd:
            // `is-active` prints the state and exits non-zero for any but active; an empty
            // answer means systemctl failed before asking (no user manager, no bus).
            let active = Self.execute(tool ?? toolName, ["--user", "is-active", "pylon"])
            let activeState = active.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !activeState.isEmpty else {
                return (nil, nil, Self.firstLine(active.stderr) ?? "systemctl exited with status \(active.status)")
            }
            let enabled = Self.execute(tool ?? toolName, ["--user", "is-enabled", "pylon"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return (activeState, enabled.isEmpty ? nil : enabled, nil)
        case .launchd:
            let printed = Self.execute(tool ?? toolName, ["print", "gui/\(getuid())/\(ServiceDefinition.launchdLabel)"])
            guard printed.status == 0 else { return ("not loaded", nil, nil) }
            return (printed.stdout.contains("state = running") ? "running" : "not running", nil, nil)
        }
    }

    private func run(_ arguments: [String]) throws(DaemonError) {
        let result = Self.execute(tool ?? toolName, arguments)
        guard result.status == 0 else {
            let detail = Self.firstLine(result.stderr) ?? Self.firstLine(result.stdout) ?? "exit status \(result.status)"
            throw DaemonError(.serviceManager, "`\(toolName) \(arguments.joined(separator: " "))` failed: \(detail)")
        }
    }

    private static func firstLine(_ text: String) -> String? {
        text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The absolute path of `name` in PATH.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a tool to its end and returns what it printed.
    static func execute(_ executable: String, _ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return (127, "", "cannot run \(executable): \(error.localizedDescription)")
        }
        // stderr on another thread, so that neither pipe fills up and blocks the tool.
        let collected = CollectedData()
        let done = DispatchSemaphore(value: 0)
        let errorHandle = errors.fileHandleForReading
        DispatchQueue.global().async {
            collected.set(errorHandle.readDataToEndOfFile())
            done.signal()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: collected.value, as: UTF8.self))
    }
}

/// What a tool printed on one of its pipes, read on another thread.
private final class CollectedData: Sendable {
    // Guards the bytes between the reading thread and the caller.
    private let data = Mutex(Data())

    func set(_ value: Data) { data.withLock { $0 = value } }
    var value: Data { data.withLock { $0 } }
}
