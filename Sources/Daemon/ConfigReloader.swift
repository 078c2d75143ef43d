public import ControlProtocol
public import Logging
import PylonBasics
public import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What set off a reload.
public enum ReloadTrigger: String, Sendable, Equatable {
    case signal = "SIGHUP"
    case fileChange = "file change"
    case command = "reload command"
}

/// How a reload ended.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new configuration is running; `change` lists what differs.
    case applied(ConfigurationChange, warnings: [ConfigurationWarning])
    /// The file reads the same as the running configuration.
    case unchanged(warnings: [ConfigurationWarning])
    /// The file is wrong; the running configuration stays.
    case failed(ConfigurationError)
    /// The reloader has stopped (the daemon is shutting down).
    case stopped

    public var succeeded: Bool {
        switch self {
        case .applied, .unchanged: true
        case .failed, .stopped: false
        }
    }

    /// One sentence for the `Reload` answer and the log.
    public var message: String {
        switch self {
        case .applied(let change, _): change.summary
        case .unchanged: "configuration unchanged"
        case .failed(let error): "the configuration was not reloaded, the running one stays: \(error)"
        case .stopped: "the daemon is shutting down"
        }
    }

    /// The answer to the socket's `Reload`: `Reloaded` with the details, or `Error` with the reason.
    public var controlResponse: ControlResponse {
        switch self {
        case .applied(let change, let warnings):
            .reloaded(
                ReloadSummary(
                    changed: change.changedKeys, needsRestart: change.needsRestart, warnings: warnings.map(\.description),
                    message: change.summary))
        case .unchanged(let warnings):
            .reloaded(ReloadSummary(warnings: warnings.map(\.description), message: message))
        case .failed, .stopped:
            .error(message)
        }
    }
}

/// Reloads the configuration on SIGHUP, on a change of the file, and on request (the `Reload`
/// command), one reload at a time (SPEC §7, §12).
///
/// A reload reads and checks the whole file first; only a valid file replaces the running
/// configuration, and `apply` then receives it with what changed. A bad file keeps the running
/// configuration, and the outcome says why.
public final class ConfigReloader: Service, Sendable {
    public typealias Apply = @Sendable (PylonConfiguration, ConfigurationChange) async -> Void
    public typealias Observe = @Sendable (ReloadTrigger, ReloadOutcome) async -> Void

    private struct Request: Sendable {
        var trigger: ReloadTrigger
        var id: Int?
    }

    private struct State {
        var current: PylonConfiguration
        /// Closed when the reloader stops.
        var waiting = Registrations<CheckedContinuation<ReloadOutcome, Never>>()
    }

    public let file: URL
    private let watcher: ConfigFileWatcher?
    private let trapsHangup: Bool
    private let logger: Logger
    private let apply: Apply
    private let observe: Observe
    // Guards the running configuration and the callers waiting for a reload.
    private let state: Mutex<State>
    private let requests: AsyncStream<Request>
    private let requestsContinuation: AsyncStream<Request>.Continuation

    /// - Parameters:
    ///   - file: the config file.
    ///   - initial: the configuration the daemon started with.
    ///   - watchFile: reload when the file changes.
    ///   - trapHangup: reload on SIGHUP.
    ///   - debounce: how long the file must be quiet before a change counts.
    ///   - apply: receives a valid new configuration and what changed; runs before the reload is reported.
    ///   - observe: receives every outcome (for the journal: `config.reloaded`, `config.reload_failed`).
    public init(
        file: URL, initial: PylonConfiguration, watchFile: Bool = true, trapHangup: Bool = true,
        debounce: Duration = .milliseconds(150), logger: Logger, apply: @escaping Apply,
        observe: @escaping Observe = { _, _ in }
    ) {
        self.file = file
        self.watcher = watchFile ? ConfigFileWatcher(file: file, debounce: debounce) : nil
        self.trapsHangup = trapHangup
        self.logger = logger
        self.apply = apply
        self.observe = observe
        self.state = Mutex(State(current: initial))
        (self.requests, self.requestsContinuation) = AsyncStream.makeStream(of: Request.self)
    }

    /// The running configuration.
    public var current: PylonConfiguration {
        state.withLock { $0.current }
    }

    /// Reloads now and returns how it went; waits for any reload in progress first. Before `run()`
    /// starts, the request waits for it; after `run()` has ended the answer is ``ReloadOutcome/stopped``.
    public func reload(_ trigger: ReloadTrigger = .command) async -> ReloadOutcome {
        await withCheckedContinuation { continuation in
            guard let id = state.withLock({ $0.waiting.add(continuation) }) else {
                continuation.resume(returning: .stopped)
                return
            }
            if case .terminated = requestsContinuation.yield(Request(trigger: trigger, id: id)) {
                if let waiting = state.withLock({ $0.waiting.remove(id) }) { waiting.resume(returning: .stopped) }
            }
        }
    }

    public func run() async throws {
        let changes: AsyncStream<Void>?
        do {
            changes = try watcher?.changes()
        } catch {
            logger.warning(
                "not watching the config file; reload with SIGHUP or `pylon reload`",
                metadata: ["config.file": "\(file.path(percentEncoded: false))", "error": "\(error)"])
            changes = nil
        }
        let hangups: UnixSignalsSequence? = trapsHangup ? await UnixSignalsSequence(trapping: .sighup) : nil
        let requestsContinuation = self.requestsContinuation

        await withDiscardingTaskGroup { group in
            if let changes {
                group.addTask {
                    for await _ in changes.cancelOnGracefulShutdown() {
                        requestsContinuation.yield(Request(trigger: .fileChange, id: nil))
                    }
                }
            }
            if let hangups {
                group.addTask {
                    for await _ in hangups.cancelOnGracefulShutdown() {
                        requestsContinuation.yield(Request(trigger: .signal, id: nil))
                    }
                }
            }
            for await request in requests.cancelOnGracefulShutdown() {
                let outcome = await perform(request.trigger)
                if let id = request.id, let waiting = state.withLock({ $0.waiting.remove(id) }) {
                    waiting.resume(returning: outcome)
                }
            }
            group.cancelAll()
        }

        requestsContinuation.finish()
        let waiting = state.withLock { $0.waiting.close() }
        for continuation in waiting { continuation.resume(returning: .stopped) }
    }

    /// Reads the file, and applies it when it is valid and different.
    private func perform(_ trigger: ReloadTrigger) async -> ReloadOutcome {
        let running = current
        let outcome: ReloadOutcome
        do throws(ConfigurationError) {
            let loaded = try PylonConfiguration.load(from: file)
            for warning in loaded.warnings {
                logger.warning("config: \(warning.message)", metadata: ["config.file": "\(warning.file)", "config.line": "\(warning.line ?? 0)"])
            }
            if !loaded.fileExists && running != .defaults {
                throw ConfigurationError(
                    .unreadable, file: file.path(percentEncoded: false),
                    issues: [.init(message: "the config file no longer exists")])
            }
            let change = PylonConfiguration.changes(from: running, to: loaded.configuration)
            if change.isEmpty {
                outcome = .unchanged(warnings: loaded.warnings)
            } else {
                state.withLock { $0.current = loaded.configuration }
                await apply(loaded.configuration, change)
                outcome = .applied(change, warnings: loaded.warnings)
            }
        } catch {
            outcome = .failed(error)
        }
        switch outcome {
        case .applied(let change, _):
            logger.info("configuration reloaded", metadata: ["reload.trigger": "\(trigger.rawValue)", "reload.changes": "\(change.summary)"])
            if !change.needsRestart.isEmpty {
                logger.warning(
                    "some changes need a restart to take effect", metadata: ["config.keys": "\(change.needsRestart.joined(separator: ","))"])
            }
        case .unchanged:
            logger.debug("configuration unchanged", metadata: ["reload.trigger": "\(trigger.rawValue)"])
        case .failed(let error):
            logger.error(
                "configuration reload failed; keeping the running configuration",
                metadata: ["reload.trigger": "\(trigger.rawValue)", "error": "\(error)"])
        case .stopped:
            break
        }
        await observe(trigger, outcome)
        return outcome
    }
}
