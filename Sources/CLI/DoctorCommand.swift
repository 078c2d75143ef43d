import ArgumentParser
import Backends
import ControlProtocol
import Daemon
import Foundation
import Logging
import NostrCore
import Payments
import PylonBasics
import RelayPool

/// `pylon doctor`: is this node ready to serve? Exit 0 only when it is.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Check identity, config, relays, backends, wallet, permissions and ports; exit 0 only when ready.")

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: "The mode to check readiness for: provider, host or both.")
    var mode: DaemonMode = .both

    @Option(name: [.short, .long], help: ArgumentHelp("The config file.", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "One JSON document.")
    var json = false

    @Flag(name: .shortAndLong, help: "Show details (models, relay limits, file paths).")
    var verbose = false

    enum Level: String, Encodable { case ok, warning, fail, info }

    struct Check: Encodable {
        let name: String
        let status: Level
        let detail: String
        var details: [String] = []
    }

    func run() async throws {
        let paths = global.paths
        var checks: [Check] = []

        // Identity
        let store = IdentityStore(paths: paths)
        if !store.exists {
            checks.append(Check(name: "identity", status: .fail, detail: "no identity at \(paths.identityFile.path); run `pylon init`"))
        } else {
            do {
                let identity = try store.load()
                let mode = FileSystem.mode(of: paths.identityFile) ?? 0
                if mode & 0o077 != 0 {
                    checks.append(Check(name: "identity", status: .warning, detail: "\(identity.npub), but \(paths.identityFile.path) has mode \(String(mode, radix: 8)); run `chmod 600` on it"))
                } else {
                    checks.append(Check(name: "identity", status: .ok, detail: identity.npub, details: [paths.identityFile.path]))
                }
            } catch {
                checks.append(Check(name: "identity", status: .fail, detail: error.message))
            }
        }

        // Config
        let configFile = config.map { URL(fileURLWithPath: $0) } ?? paths.configFile
        var configuration = PylonConfiguration.defaults
        do {
            let loaded = try PylonConfiguration.load(from: configFile)
            configuration = loaded.configuration
            let source = loaded.fileExists ? configFile.path : "defaults (no \(configFile.path))"
            if loaded.warnings.isEmpty {
                checks.append(Check(name: "config", status: .ok, detail: source))
            } else {
                checks.append(Check(name: "config", status: .warning, detail: "\(source): \(loaded.warnings.count) warning(s)", details: loaded.warnings.map(\.description)))
            }
        } catch {
            checks.append(Check(name: "config", status: .fail, detail: error.description))
        }

        // Permissions
        for directory in Set([paths.configDirectory, paths.runtimeDirectory]) {
            if let mode = FileSystem.mode(of: directory), mode & 0o077 != 0 {
                checks.append(Check(name: "permissions", status: .warning, detail: "\(directory.path) has mode \(String(mode, radix: 8)); 0700 keeps other users out"))
            }
        }
        if let mode = FileSystem.mode(of: paths.controlSocket), mode & 0o077 != 0 {
            checks.append(Check(name: "permissions", status: .fail, detail: "the control socket \(paths.controlSocket.path) has mode \(String(mode, radix: 8)); expected 0600"))
        }

        // Daemon and ports
        let running = RuntimeFiles.runningPID(paths)
        checks.append(Check(name: "daemon", status: .info, detail: running.map { "running (pid \($0))" } ?? "not running"))
        if let address = configuration.http.listenAddress {
            if running != nil {
                checks.append(Check(name: "http", status: .ok, detail: "served by the daemon on \(address.host):\(address.port)"))
            } else {
                do {
                    try ObservabilityHTTP.checkAvailable(host: address.host, port: address.port)
                    checks.append(Check(name: "http", status: .ok, detail: "\(address.host):\(address.port) is free"))
                } catch {
                    checks.append(Check(name: "http", status: .fail, detail: error.message))
                }
            }
        } else {
            checks.append(Check(name: "http", status: .info, detail: "disabled ([http].listen is \"\")"))
        }

        // Relays and backends, in parallel
        let loaded = configuration
        async let relayChecks = Self.checkRelays(loaded, verbose: verbose)
        async let backendCheck = mode.includesProvider ? Self.checkBackends(loaded) : nil
        checks += await relayChecks
        if let backendCheck = await backendCheck { checks.append(backendCheck) }

        // Wallet
        if configuration.wallet.isConfigured {
            checks.append(await Self.checkWallet(loaded, needsPayments: mode.includesProvider && loaded.provider.priceMsats > 0))
        } else if configuration.provider.priceMsats > 0 {
            checks.append(Check(name: "wallet", status: .fail, detail: "[provider].price_msats is \(configuration.provider.priceMsats) but no [wallet] is configured"))
        } else {
            checks.append(Check(name: "wallet", status: .info, detail: "none (jobs are free; set [wallet].nwc to charge)"))
        }

        let ready = !checks.contains { $0.status == .fail }
        if json {
            try Output.json(DoctorReport(ready: ready, mode: mode.rawValue, checks: checks))
        } else {
            let color = isatty(STDOUT_FILENO) == 1
            for check in checks {
                let mark: String
                switch check.status {
                case .ok: mark = color ? "\u{1B}[32m✓\u{1B}[0m" : "ok  "
                case .warning: mark = color ? "\u{1B}[33m!\u{1B}[0m" : "warn"
                case .fail: mark = color ? "\u{1B}[31m✗\u{1B}[0m" : "FAIL"
                case .info: mark = color ? "·" : "info"
                }
                Output.line("\(mark) \(check.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(check.detail)")
                if verbose { for detail in check.details { Output.line("    \(detail)") } }
            }
            // Name the failures with the mark they were printed with.
            Output.line(ready ? "ready to serve (\(mode.rawValue) mode)" : "not ready: fix the \(color ? "✗" : "FAIL") items above")
        }
        if !ready { throw ExitCode(1) }
    }

    /// Connects to every relay for up to 4 s.
    /// The wallet answers get_info within 4 s and offers what this node needs: make_invoice and
    /// lookup_invoice to be paid for jobs (when priced), pay_invoice to pay.
    static func checkWallet(_ configuration: PylonConfiguration, needsPayments: Bool) async -> Check {
        let uri: WalletConnectURI
        do {
            guard let text = try configuration.wallet.connectionURI()?.revealed else {
                return Check(name: "wallet", status: .fail, detail: "no wallet connection")
            }
            uri = try WalletConnectURI(parsing: text)
        } catch let error as NostrError {
            return Check(name: "wallet", status: .fail, detail: "the wallet connection is not valid: \(error.message)")
        } catch {
            return Check(name: "wallet", status: .fail, detail: "\(error)")
        }
        var settings = WalletClient.Configuration()
        settings.connectTimeout = .seconds(4)
        settings.requestTimeout = .seconds(4)
        settings.infoTimeout = .seconds(4)
        var logger = Logger(label: "pylon.payments")
        logger.logLevel = .critical
        do {
            let started = ContinuousClock.now
            let node = try await WalletClient.withConnection(uri, configuration: settings, logger: logger) { client in try await client.getInfo() }
            let took = ContinuousClock.now - started
            let needed = (needsPayments ? ["make_invoice", "lookup_invoice"] : []) + ["pay_invoice"]
            let missing = needed.filter { !node.methods.contains($0) }
            let detail = "\(node.alias ?? "a wallet") on \(node.network ?? "an unnamed network"), answered get_info in \(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000) ms"
            if missing.isEmpty { return Check(name: "wallet", status: .ok, detail: detail, details: [uri.description]) }
            return Check(
                name: "wallet", status: needsPayments && missing.contains("make_invoice") ? .fail : .warning,
                detail: "\(detail); it lacks \(missing.joined(separator: ", "))", details: [uri.description])
        } catch {
            return Check(name: "wallet", status: .fail, detail: "the wallet did not answer get_info: \(error)")
        }
    }

    static func checkRelays(_ configuration: PylonConfiguration, verbose: Bool) async -> [Check] {
        var urls: [RelayURL] = []
        for text in configuration.relays {
            guard let url = try? RelayURL(text) else { return [Check(name: "relays", status: .fail, detail: "\"\(text)\" is not a relay URL")] }
            urls.append(url)
        }
        guard !urls.isEmpty else { return [Check(name: "relays", status: .fail, detail: "no relays configured")] }
        var poolConfiguration = RelayPool.Configuration(relays: urls)
        poolConfiguration.initialBackoff = .seconds(10)
        var logger = Logger(label: "pylon.doctor")
        logger.logLevel = .critical
        let pool = RelayPool(configuration: poolConfiguration, keypair: nil, logger: logger)
        let statuses = await withTaskGroup(of: [RelayStatus]?.self) { group in
            group.addTask {
                try? await pool.run()
                return nil
            }
            _ = await pool.awaitConnected(urls.count, timeout: .seconds(4))
            let statuses = pool.statuses
            group.cancelAll()
            return statuses
        }
        let connected = statuses.filter { $0.state == .connected }
        var checks: [Check] = []
        for status in statuses {
            let limits = status.limits.maxMessageLength.map { "max message \($0) bytes" }
            checks.append(
                Check(
                    name: "relay", status: status.state == .connected ? .ok : .warning,
                    detail: "\(status.url) \(status.state == .connected ? "connected" : "unreachable: \(status.lastError ?? "no answer within 4 s")")",
                    details: verbose ? [limits].compactMap { $0 } : []))
        }
        checks.append(
            Check(
                name: "relays", status: connected.isEmpty ? .fail : .ok,
                detail: "\(connected.count) of \(statuses.count) connected within 4 s"))
        return checks
    }

    /// Detects backends once and lists their models.
    static func checkBackends(_ configuration: PylonConfiguration) async -> Check {
        var logger = Logger(label: "pylon.doctor")
        logger.logLevel = .critical
        let backendConfiguration = configuration.backendConfiguration
        let registry = BackendRegistry(configuration: backendConfiguration, logger: logger)
        let statuses = await registry.detectNow()
        await registry.shutdown()
        let ready = statuses.filter { $0.state == .ready && !$0.models.isEmpty }
        let details = statuses.map { status in
            status.state == .ready
                ? "\(status.name) \(status.url): ready, models \(status.models.joined(separator: ", "))"
                : "\(status.name) \(status.url): \(status.lastError ?? "unavailable")"
        }
        if let first = ready.first {
            return Check(name: "backends", status: .ok, detail: "\(first.name) ready with \(first.models.count) model(s): \(first.models.prefix(3).joined(separator: ", "))", details: details)
        }
        return Check(
            name: "backends", status: .fail,
            detail:
                "no inference backend is ready with a model (tried \(statuses.map(\.name).joined(separator: ", "))): start Ollama, llama.cpp or an OpenAI-compatible server, or point [backends] at one; -v shows why each failed",
            details: details)
    }
}

struct DoctorReport: Encodable {
    let ready: Bool
    let mode: String
    let checks: [DoctorCommand.Check]
}
