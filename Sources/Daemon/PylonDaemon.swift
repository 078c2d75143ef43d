import Backends
public import ControlProtocol
import Host
public import Logging
import Metrics
import NIOCore
import NIOPosix
import NostrCore
import Payments
import Prometheus
import Provider
import PylonAsync
public import PylonBasics
import PylonStore
import RelayPool
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// How the daemon was started.
public struct DaemonOptions: Sendable {
    public var paths: PylonPaths
    public var mode: DaemonMode
    /// The config file (default `paths.configFile`).
    public var configFile: URL
    /// Logs go to stderr instead of `logs/pylon.log`.
    public var foreground: Bool
    /// Started by `pylon start`: stderr is a pipe to it until the control socket is up.
    public var detached: Bool

    public init(paths: PylonPaths, mode: DaemonMode = .both, configFile: URL? = nil, foreground: Bool, detached: Bool = false) {
        self.paths = paths
        self.mode = mode
        self.configFile = configFile ?? paths.configFile
        self.foreground = foreground
        self.detached = detached
    }
}

/// The daemon: builds every part, runs them in one ServiceGroup in dependency order, and shuts
/// them down in reverse (SPEC §7, STYLE §2).
public final class PylonDaemon: Sendable {
    public let options: DaemonOptions
    public let identity: Identity
    public let logger: Logger
    let runtime: RuntimeFiles
    let relayPool: RelayPool
    let backends: BackendRegistry
    /// Provider mode's service; nil in host mode.
    let provider: ProviderService?
    /// The NWC wallet, when `[wallet]` (or `pylon wallet connect`) names one.
    let wallet: WalletClient?
    /// Host mode's agent supervisor; nil in provider mode.
    let host: AgentSupervisor?
    let hostMetrics: HostMetrics
    let store: PylonStore
    /// The event loop the daemon's tasks run on (see `EventLoopTaskExecutor`).
    let executor: EventLoopTaskExecutor
    let control: ControlServer
    let reloader: ConfigReloader
    let logSettings: LogSettings
    let http: (any Service)?
    let startedClock = ContinuousClock.now
    /// Fulfilled once the HTTP server listens (at once without one): `Pong` waits for it, so
    /// `pylon start` returns with every endpoint up.
    let httpListening = Promise<Void>()
    private let group = Mutex<ServiceGroup?>(nil)
    /// Set once a graceful shutdown is asked for (a signal, `Shutdown`); a signal after that ends
    /// the drain.
    private let shutdownAsked = Atomic<Bool>(false)
    /// Set once the drain is ended early (``endDrain(reason:)``).
    private let drainEnded = Atomic<Bool>(false)
    /// How long the rest of the shutdown may take once the drain is ended early.
    static let hurriedExitDeadline: Duration = .milliseconds(1800)
    let processMetrics = ProcessMetrics()

    /// Builds the daemon and takes the PID lock and the control socket. Everything that can fail
    /// for a reason the user must fix (config, identity, ports, another daemon) fails here, with a
    /// message for `pylon start` to print, before anything runs.
    public static func build(_ options: DaemonOptions) async throws(DaemonError) -> PylonDaemon {
        ProcessControl.unblockSignals()
        ProcessControl.ignoreBrokenPipes()
        let loaded: LoadedConfiguration
        do {
            loaded = try PylonConfiguration.load(from: options.configFile)
        } catch {
            throw DaemonError(.config, error.description, cause: error)
        }
        let runtime = try RuntimeFiles.acquire(options.paths)
        do {
            return try await assemble(options, loaded: loaded, runtime: runtime)
        } catch {
            runtime.release()
            throw error
        }
    }

    private static func assemble(_ options: DaemonOptions, loaded: LoadedConfiguration, runtime: RuntimeFiles) async throws(DaemonError) -> PylonDaemon {
        let configuration = loaded.configuration
        let logSettings: LogSettings
        do {
            logSettings = try PylonLogging.bootstrap(
                configuration.log, destination: PylonLogging.destination(configuration.log, paths: options.paths, foreground: options.foreground))
        } catch {
            throw DaemonError(.fileSystem, "cannot open the log file \(options.paths.logFile.path): \(error)", cause: error)
        }
        let logger = Logger(label: "pylon.daemon")
        for warning in loaded.warnings { logger.warning("config warning", metadata: ["config.warning": "\(warning)"]) }
        let identity = try IdentityStore(paths: options.paths).load()
        let store: PylonStore
        do {
            store = try PylonStore.open(path: options.paths.database.path)
        } catch {
            throw DaemonError(.fileSystem, error.message, cause: error)
        }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PylonMetricsFactory(registry: registry))

        let relayConfiguration: RelayPool.Configuration
        do {
            relayConfiguration = try configuration.relayPoolConfiguration(file: options.configFile.path)
        } catch {
            throw DaemonError(.config, error.description, cause: error)
        }
        // The last check that can fail, before anything that owns resources is made.
        if let address = configuration.http.listenAddress {
            try ObservabilityHTTP.checkAvailable(host: address.host, port: address.port)
        }
        // One event loop carries the relay connections, the backend client and the daemon's tasks.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let relayPool = RelayPool(
            configuration: relayConfiguration, keypair: identity.keypair, logger: Logger(label: "pylon.relay"), eventLoopGroup: loop)
        let backends = BackendRegistry(
            configuration: configuration.backendConfiguration, logger: Logger(label: "pylon.backends"), eventLoopGroup: loop)
        let wallet = try Self.wallet(configuration, eventLoop: loop)
        let provider = options.mode.includesProvider
            ? ProviderService(
                configuration: configuration.providerConfiguration, keypair: identity.keypair, pool: relayPool, backends: backends,
                store: store, wallet: wallet, logger: Logger(label: "pylon.provider"))
            : nil
        let handler = DaemonControlHandler()
        let control = ControlServer(socketPath: options.paths.controlSocket.path, handler: handler, logger: Logger(label: "pylon.control"))
        let reloader = ConfigReloader(
            file: options.configFile, initial: configuration, logger: Logger(label: "pylon.config"),
            apply: { new, change in
                await handler.daemon?.apply(new, change: change)
            },
            observe: { trigger, outcome in
                await handler.daemon?.observeReload(trigger, outcome)
            })

        let host = options.mode.includesHost ? Self.supervisor(options, store: store) : nil
        let daemon = PylonDaemon(
            options: options, identity: identity, logger: logger, runtime: runtime, relayPool: relayPool, backends: backends,
            provider: provider, wallet: wallet, host: host, store: store, executor: EventLoopTaskExecutor(loop),
            control: control, reloader: reloader, logSettings: logSettings, httpAddress: configuration.http.listenAddress,
            registry: registry, statusPage: StatusPage(store: store, status: { await handler.daemon?.status() }))
        handler.attach(daemon)
        do {
            try await control.bind()
        } catch {
            await backends.shutdown()
            throw DaemonError(.startFailed, "\(error)", cause: error)
        }
        return daemon
    }

    /// The wallet client for the configured connection; nil when none is configured.
    static func wallet(_ configuration: PylonConfiguration, eventLoop: (any EventLoop)? = nil) throws(DaemonError) -> WalletClient? {
        let text: String
        do {
            guard let secret = try configuration.wallet.connectionURI() else { return nil }
            text = secret.revealed
        } catch {
            throw DaemonError(.config, error.description, cause: error)
        }
        do {
            return WalletClient(uri: try WalletConnectURI(parsing: text), logger: Logger(label: "pylon.payments"), eventLoopGroup: eventLoop)
        } catch {
            throw DaemonError(.config, "the wallet connection is not valid: \(error.message)")
        }
    }

    /// The supervisor of host mode: each agent runs as `pylon __agent NAME` with this daemon's files.
    static func supervisor(_ options: DaemonOptions, store: PylonStore) -> AgentSupervisor {
        let paths = options.paths
        let configFile = options.configFile.path
        let configuration = AgentSupervisor.Configuration(
            executable: ProcessControl.executablePath,
            arguments: { name in
                [
                    "__agent", name, "--config-dir", paths.configDirectory.path, "--runtime-dir", paths.runtimeDirectory.path,
                    "--config", configFile,
                ]
            },
            logsDirectory: paths.agentLogsDirectory, pidDirectory: paths.agentPIDDirectory)
        return AgentSupervisor(configuration: configuration, store: store, logger: Logger(label: "pylon.host"))
    }

    private init(
        options: DaemonOptions, identity: Identity, logger: Logger, runtime: RuntimeFiles, relayPool: RelayPool,
        backends: BackendRegistry, provider: ProviderService?, wallet: WalletClient?, host: AgentSupervisor?, store: PylonStore, executor: EventLoopTaskExecutor, control: ControlServer, reloader: ConfigReloader, logSettings: LogSettings,
        httpAddress: (host: String, port: Int)?, registry: PrometheusCollectorRegistry, statusPage: StatusPage
    ) {
        self.options = options
        self.identity = identity
        self.logger = logger
        self.runtime = runtime
        self.relayPool = relayPool
        self.backends = backends
        self.provider = provider
        self.wallet = wallet
        self.host = host
        self.store = store
        // Host metrics count the ticks journaled from now on.
        hostMetrics = HostMetrics(since: (try? store.lastSeq()) ?? 0)
        self.executor = executor
        self.control = control
        self.reloader = reloader
        self.logSettings = logSettings
        let processMetrics = self.processMetrics
        if let httpAddress {
            let relayPool = relayPool
            let backends = backends
            let mode = options.mode
            let scheduler = provider?.scheduler
            let hostMetrics = self.hostMetrics
            http = ObservabilityHTTP.makeServer(
                host: httpAddress.host, port: httpAddress.port, registry: registry, logger: Logger(label: "pylon.http"),
                readiness: { await Self.readiness(relayPool: relayPool, backends: backends, scheduler: scheduler, host: host, mode: mode) },
                refresh: {
                    processMetrics.refresh()
                    if let host { hostMetrics.refresh(store: store, supervisor: host) }
                }, statusPage: statusPage, onListening: { [httpListening] in httpListening.fulfill(()) })
        } else {
            http = nil
            httpListening.fulfill(())
        }
    }

    /// Runs until SIGTERM, SIGINT or a `Shutdown` request, then shuts down in order and returns.
    public func run() async throws {
        if options.detached { ProcessControl.detachStandardError() }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: runtime, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "RuntimeFiles"),
            .init(service: JournalLifecycle(daemon: self), successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "Journal"),
            .init(service: control, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "ControlServer"),
        ]
        if let http {
            services.append(.init(service: http, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "ObservabilityHTTP"))
        }
        services.append(.init(service: relayPool, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "RelayPool"))
        if options.mode.includesProvider {
            services.append(.init(service: backends, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "BackendRegistry"))
        }
        if let wallet {
            services.append(.init(service: wallet, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "Wallet"))
        }
        if let provider {
            // After the pool, the backends and the wallet, so it stops first and answers its jobs with them.
            services.append(.init(service: provider, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "Provider"))
        }
        services.append(.init(service: reloader, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "ConfigReloader"))
        if let host {
            // After the provider: on shutdown the agents stop before it stops taking jobs (SPEC §7).
            services.append(.init(service: host, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "AgentSupervisor"))
        }
        // Last in, first out: it journals shutdown.begin as soon as shutdown starts.
        services.append(.init(service: StateObserver(daemon: self), successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "StateObserver"))

        // SIGTERM and SIGINT are the daemon's own (``watchSignals(_:)``), not the group's: the
        // group hears only the first, and the second must end the drain.
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(20)
        configuration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        self.group.withLock { $0 = group }
        logger.info(
            "pylon started",
            metadata: [
                "pylon.version": "\(PylonVersion.current)", "pylon.mode": "\(options.mode.rawValue)", "pylon.npub": "\(identity.npub)",
                "pylon.pid": "\(getpid())",
            ])
        // Trapped before the group runs, so that no signal finds the default action meanwhile.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        do {
            try await withTaskExecutorPreference(executor) {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await self.watchSignals(signals) }
                    try await group.run()
                    tasks.cancelAll()
                }
            }
        } catch {
            logger.error("a service failed", metadata: ["error": "\(error)"])
            runtime.release()
            throw error
        }
        cancelHurriedExit()
        logger.info("pylon stopped")
    }

    /// Starts graceful shutdown (the `Shutdown` request, a first SIGTERM or SIGINT).
    public func shutdown() async {
        shutdownAsked.store(true, ordering: .relaxed)
        logger.notice("shutdown requested")
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// The first SIGTERM or SIGINT starts the graceful shutdown; one after the shutdown started
    /// (by a signal or by `Shutdown`, as `pylon stop --timeout` does) ends its drain at once.
    private func watchSignals(_ signals: UnixSignalsSequence) async {
        for await signal in signals {
            if shutdownAsked.load(ordering: .relaxed) {
                endDrain(reason: "\(signal) during shutdown")
            } else {
                logger.notice("signal received: shutting down", metadata: ["signal": "\(signal)"])
                await shutdown()
            }
        }
    }

    /// Ends the shutdown's drain at once: running jobs are stopped and answered with an `error`
    /// feedback, state and journal are written as in any graceful shutdown, and the process exits
    /// within 2 s. Should a part still hang past ``hurriedExitDeadline``, the process exits anyway
    /// (status 1), journaling `shutdown.complete` with `forced`.
    public func endDrain(reason: String) {
        guard !drainEnded.exchange(true, ordering: .relaxed) else { return }
        logger.notice("shutdown drain ended early: running jobs are answered with an error", metadata: ["shutdown.reason": "\(reason)"])
        provider?.endDrain()
        host?.hurry()
        let timer = LoopTimer.after(Self.hurriedExitDeadline) { [self] in
            logger.error("shutdown still not finished after its drain was ended; exiting now")
            recordShutdownComplete(forced: true)
            // No clean-up left to wait for: the kernel releases the PID lock, and the next start
            // replaces a stale socket.
            _exit(1)
        }
        hurriedExit.withLock { $0 = timer }
    }

    /// The timer of a hurried shutdown's last resort, cancelled once the journal is closed.
    private let hurriedExit = Mutex<LoopTimer?>(nil)
    /// Set once `shutdown.complete` is journaled.
    private let completeRecorded = Atomic<Bool>(false)

    /// Journals `shutdown.complete` once: `drain_ended` when the drain was ended early, `forced`
    /// when the process exits without the rest of its shutdown.
    func recordShutdownComplete(forced: Bool) {
        guard !completeRecorded.exchange(true, ordering: .relaxed) else { return }
        var data: [String: JSON] = ["pid": .integer(Int64(getpid()))]
        if drainEnded.load(ordering: .relaxed) { data["drain_ended"] = .bool(true) }
        if forced { data["forced"] = .bool(true) }
        store.record(.shutdownComplete, data, logger: logger)
    }

    /// The journal is written and closed: what is left of the shutdown cannot hang.
    func cancelHurriedExit() {
        hurriedExit.withLock { $0 }?.cancel()
    }

    // MARK: Reload

    func apply(_ configuration: PylonConfiguration, change: ConfigurationChange) async {
        logSettings.apply(configuration.log)
        if change.changed("relays"), let relays = try? configuration.relayPoolConfiguration(file: options.configFile.path).relays {
            await relayPool.update(relays: relays)
        }
        await backends.update(configuration: configuration.backendConfiguration)
        provider?.update(configuration.providerConfiguration)
    }

    func observeReload(_ trigger: ReloadTrigger, _ outcome: ReloadOutcome) async {
        store.record(
            outcome.succeeded ? .configReloaded : .configReloadFailed,
            ["trigger": .string(trigger.rawValue), "message": .string(outcome.message)], logger: logger)
        if outcome.succeeded {
            logger.info("config reloaded", metadata: ["config.trigger": "\(trigger.rawValue)", "config.summary": "\(outcome.message)"])
        } else {
            logger.warning("config reload failed; keeping the running config", metadata: ["config.trigger": "\(trigger.rawValue)", "config.error": "\(outcome.message)"])
        }
    }

    // MARK: Status

    /// The `Status` answer and `status --json` (SPEC §12).
    public func status() async -> StatusReport {
        let configuration = reloader.current
        let relays = relayPool.statuses.map { status in
            StatusReport.Relay(
                url: status.url.string, state: StatusReport.Relay.State(rawValue: status.state.rawValue) ?? .closed,
                lastError: status.lastError, since: status.since)
        }
        let backends = options.mode.includesProvider
            ? await self.backends.status().map { status in
                StatusReport.Backend(name: status.name, url: status.url, state: status.state == .ready ? .ready : .unavailable, models: status.models)
            } : []
        let uptime = ContinuousClock.now - startedClock
        let statistics = try? store.statistics()
        let earnings = try? store.earningsSummary()
        return StatusReport(
            running: true, uptimeSecs: UInt64(max(0, uptime.components.seconds)), pid: getpid(), version: PylonVersion.current,
            mode: options.mode, providerActive: options.mode.includesProvider, hostActive: host?.isRunning ?? false,
            jobsCompleted: UInt64(statistics?.jobsCompleted ?? 0), earningsMsats: UInt64(max(0, statistics?.earningsMsats ?? 0)),
            relays: relays, backends: backends,
            queue: queue(configuration),
            earnings: .init(
                todayMsats: UInt64(max(0, earnings?.todayMsats ?? 0)), weekMsats: UInt64(max(0, earnings?.weekMsats ?? 0)),
                totalMsats: UInt64(max(0, earnings?.totalMsats ?? 0))),
            agents: StatusReport.AgentCounts((try? agentReports()) ?? []))
    }

    /// The agents with their processes (SPEC §12 Agents); outside host mode, their rows alone.
    func agentReports() throws(PylonStoreError) -> [AgentReport] {
        try AgentReports.make(store: store, processes: host?.processes ?? [:])
    }

    private func queue(_ configuration: PylonConfiguration) -> StatusReport.Queue {
        guard let snapshot = provider?.scheduler.snapshot() else {
            return .init(queued: 0, running: 0, slots: configuration.provider.maxConcurrentJobs, maxQueue: configuration.provider.maxQueue)
        }
        return .init(queued: snapshot.queued.count, running: snapshot.running.count, slots: snapshot.slots, maxQueue: snapshot.maxQueue)
    }

    /// The scheduler's snapshot (`DumpState`).
    func dumpState() -> JSON {
        guard let provider else { return .object([.init("provider", .null)]) }
        return .object([.init("scheduler", provider.scheduler.snapshot().json)])
    }

    static func readiness(
        relayPool: RelayPool, backends: BackendRegistry, scheduler: JobScheduler?, host: AgentSupervisor?, mode: DaemonMode
    ) async -> Readiness {
        var reasons: [String] = []
        var warnings: [String] = []
        let statuses = relayPool.statuses
        let connected = statuses.filter { $0.state == .connected }.count
        if statuses.isEmpty {
            reasons.append("no relays are configured")
        } else if connected == 0 {
            reasons.append("no relay is connected (\(statuses.count) configured)")
        } else if connected < statuses.count {
            warnings.append("\(statuses.count - connected) of \(statuses.count) relays are not connected")
        }
        if mode.includesProvider {
            let ready = await backends.status().filter { $0.state == .ready && !$0.models.isEmpty }
            if ready.isEmpty { reasons.append("no inference backend is ready with a model") }
        }
        if mode.includesHost, !(host?.isRunning ?? false) {
            reasons.append("the agent supervisor is not running")
        }
        if let scheduler, !scheduler.hasRoom {
            let snapshot = scheduler.snapshot()
            warnings.append("the job queue is full (\(snapshot.running.count) running, \(snapshot.queued.count) waiting): new requests are refused as busy")
        }
        return Readiness(reasons: reasons, warnings: warnings)
    }

    public func readiness() async -> Readiness {
        await Self.readiness(relayPool: relayPool, backends: backends, scheduler: provider?.scheduler, host: host, mode: options.mode)
    }
}

/// Journals and logs relay and backend state changes; the first to hear of a graceful shutdown,
/// it journals `shutdown.begin`.
struct StateObserver: Service {
    let daemon: PylonDaemon

    func run() async throws {
        let store = daemon.store
        let logger = daemon.logger
        await withDiscardingTaskGroup { group in
            group.addTask {
                var wasUp: [String: Bool] = [:]
                for await change in daemon.relayPool.stateChanges.cancelOnGracefulShutdown() {
                    let url = change.url.string
                    switch change.state {
                    case .connected where wasUp[url] != true:
                        wasUp[url] = true
                        logger.info("relay up", metadata: ["relay.url": "\(url)"])
                        store.record(.relayUp, ["url": .string(url)], logger: logger)
                    case .backingOff where wasUp[url] != false, .closed where wasUp[url] != false:
                        wasUp[url] = false
                        logger.notice("relay down", metadata: ["relay.url": "\(url)", "relay.error": "\(change.error ?? "")"])
                        store.record(.relayDown, ["url": .string(url), "error": change.error.map(JSON.string) ?? .null], logger: logger)
                    default:
                        break
                    }
                }
            }
            group.addTask {
                for await change in daemon.backends.stateChanges.cancelOnGracefulShutdown() {
                    let up = change.state == .ready
                    logger.info(
                        up ? "backend up" : "backend down",
                        metadata: ["backend.name": "\(change.backend)", "backend.url": "\(change.url)", "backend.reason": "\(change.reason ?? "")"])
                    store.record(
                        up ? .backendUp : .backendDown,
                        [
                            "backend": .string(change.backend), "url": .string(change.url),
                            "models": .array(change.models.map(JSON.string)), "reason": change.reason.map(JSON.string) ?? .null,
                        ], logger: logger)
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                store.record(.shutdownBegin, ["pid": .integer(Int64(getpid()))], logger: logger)
            }
        }
    }
}

/// Journals `daemon.started` when the group starts and `shutdown.complete` when it is nearly done
/// (it is second in the group, so only the PID lock outlives it), then closes the store.
struct JournalLifecycle: Service {
    let daemon: PylonDaemon

    func run() async throws {
        daemon.store.record(
            .daemonStarted,
            [
                "pid": .integer(Int64(getpid())), "version": .string(PylonVersion.current), "mode": .string(daemon.options.mode.rawValue),
                "pubkey": .string(daemon.identity.publicKey.hex),
            ], logger: daemon.logger)
        try? await gracefulShutdown()
        daemon.recordShutdownComplete(forced: false)
        try? daemon.store.close()
        daemon.cancelHurriedExit()
    }
}
