import CoreMetrics
public import Foundation
public import Logging
import Metrics
import PylonAsync
import PylonBasics
public import PylonStore
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Host mode's supervisor (SPEC §9): every agent that is not stopped runs as a subprocess of the
/// same binary, in its own process group, its output in `logs/agents/NAME.log` (rotated by size).
/// A process that ends unasked is restarted after a backoff (1 s doubling to 5 min, back to 1 s
/// after 60 s up) and the crash is journaled; `stop` sends SIGTERM to the group, then SIGKILL after
/// a grace period. On the daemon's shutdown every agent stops first, and a daemon killed with
/// SIGKILL leaves nothing behind after its next start: each process's PID is kept in
/// `agents/NAME.pid` until it ends, and the next start ends what those files name (the agents also
/// end on their own when their parent is gone).
public final class AgentSupervisor: Service, Sendable {
    public struct Configuration: Sendable {
        /// This binary.
        public var executable: String
        /// The arguments that run one agent (`__agent NAME --home H`).
        public var arguments: @Sendable (String) -> [String]
        /// `logs/agents`.
        public var logsDirectory: URL
        /// Where the PID files live (`<runtime>/agents`).
        public var pidDirectory: URL
        public var stopGrace: Duration = .seconds(5)
        public var initialBackoff: Duration = .seconds(1)
        public var maxBackoff: Duration = .seconds(300)
        /// Up this long, a process's next crash starts the backoff over.
        public var healthyAfter: Duration = .seconds(60)
        public var logMaxBytes: Int = 10 << 20
        public var logFiles: Int = 3

        public init(
            executable: String, arguments: @escaping @Sendable (String) -> [String], logsDirectory: URL, pidDirectory: URL
        ) {
            self.executable = executable
            self.arguments = arguments
            self.logsDirectory = logsDirectory
            self.pidDirectory = pidDirectory
        }
    }

    /// One agent's process as the supervisor sees it.
    public struct ProcessState: Sendable, Equatable {
        public var pid: Int32?
        /// Restarts after crashes since the daemon started.
        public var restarts: Int
        /// Waiting out a backoff after a crash.
        public var crashed: Bool
    }

    private struct Slot {
        var state = ProcessState(pid: nil, restarts: 0, crashed: false)
        var stopRequested = false
        /// Started again while it was stopping: it runs again once its process is gone.
        var startAgain = false
        /// Ends a backoff wait early (a stop, a start, a shutdown).
        var wake: Promise<Void>?
    }

    private let configuration: Configuration
    private let store: PylonStore
    private let logger: Logger
    private let slots = Mutex<[String: Slot]>([:])
    private let changes = AsyncStream.makeStream(of: String?.self, bufferingPolicy: .unbounded)
    private let running = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Fulfilled when the shutdown begins: ends the supervisor's own waits.
    private let shutdown = Promise<Void>()
    private let restartsCounter = Counter(label: "pylon_agent_restarts_total")

    public init(configuration: Configuration, store: PylonStore, logger: Logger = Logger(label: "pylon.host")) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    /// Whether the supervisor runs (`Status.host_active`, readiness in host mode).
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    /// Each agent's process, by name.
    public var processes: [String: ProcessState] { slots.withLock { $0.mapValues(\.state) } }

    /// An agent's row changed (or `nil`: look at all of them): its process is brought in line.
    public func agentChanged(_ name: String?) {
        changes.continuation.yield(name)
    }

    // MARK: Service

    public func run() async throws {
        endLeftovers()
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        logger.info("agent supervisor running")
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()
                self.beginShutdown()
            }
            group.addTask {
                // A running agent's log is rotated in place when it grows past the limit.
                while await !self.wait(.seconds(60), orUntil: self.shutdown) {
                    self.rotateRunningLogs()
                }
            }
            changes.continuation.yield(nil)
            for await name in changes.stream {
                guard !stopping.load(ordering: .relaxed) else { break }
                reconcile(name, group: &group)
            }
            // Shutdown: every agent is told to stop; the group waits for their processes.
            for name in slots.withLock({ Array($0.keys) }) { stop(name, reason: "the daemon is shutting down") }
        }
        logger.info("agent supervisor stopped")
    }

    private func beginShutdown() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        shutdown.fulfill(())
        changes.continuation.finish()
    }

    private func rotateRunningLogs() {
        for (name, state) in processes where state.pid != nil {
            LogRotation.rotateInPlace(
                configuration.logsDirectory.appending(path: "\(name).log"), maxBytes: configuration.logMaxBytes, keep: configuration.logFiles)
        }
    }

    /// Sleeps for `duration`; true when `promise` was fulfilled first.
    private func wait(_ duration: Duration, orUntil promise: Promise<Void>) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = await promise.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: duration)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Starts what should run and stops what should not.
    private func reconcile(_ name: String?, group: inout DiscardingTaskGroup) {
        let agents: [Agent]
        do {
            if let name {
                agents = try store.agent(name: name).map { [$0] } ?? []
            } else {
                agents = try store.agents()
            }
        } catch {
            logger.error("cannot read the agents", metadata: ["error": "\(error)"])
            return
        }
        let wanted = Set(agents.filter { $0.state != .stopped }.map(\.name))
        let considered = name.map { [$0] } ?? Array(Set(agents.map(\.name)).union(slots.withLock { Array($0.keys) }))
        for agent in considered {
            let supervised = slots.withLock { $0[agent] != nil && !($0[agent]?.stopRequested ?? true) }
            if wanted.contains(agent) {
                if !supervised {
                    let fresh = slots.withLock { slots in
                        if slots[agent] != nil {
                            // Stopping: it is started again once its process is gone.
                            slots[agent]?.startAgain = true
                            return false
                        }
                        slots[agent] = Slot()
                        return true
                    }
                    if fresh { group.addTask { await self.supervise(agent) } }
                }
            } else if supervised || slots.withLock({ $0[agent]?.startAgain == true }) {
                stop(agent, reason: "stopped")
            }
        }
    }

    // MARK: One agent

    /// Runs one agent's process until it is stopped, restarting it after crashes; a start that
    /// comes while it stops runs it again.
    private func supervise(_ name: String) async {
        repeat {
            await superviseOnce(name)
        } while slots.withLock({ slots in
            guard slots[name]?.startAgain == true, !stopping.load(ordering: .relaxed) else {
                slots[name] = nil
                return false
            }
            slots[name]?.startAgain = false
            slots[name]?.stopRequested = false
            return true
        })
    }

    private func superviseOnce(_ name: String) async {
        var backoff = configuration.initialBackoff
        while !slots.withLock({ $0[name]?.stopRequested ?? true }) {
            let started = ContinuousClock.now
            let status = await runProcess(name)
            let asked = slots.withLock { $0[name]?.stopRequested ?? true }
            if asked { break }
            // Ended unasked: a crash, or the agent ended itself (stopped or deleted in pylon.db).
            if let agent = try? store.agent(name: name), agent.state != .stopped {
                if ContinuousClock.now - started >= configuration.healthyAfter { backoff = configuration.initialBackoff }
                let restarts = slots.withLock { slots -> Int in
                    slots[name]?.state.restarts += 1
                    slots[name]?.state.crashed = true
                    return slots[name]?.state.restarts ?? 0
                }
                restartsCounter.increment()
                var data: [JSON.Member] = [.init("name", .string(name))]
                switch status {
                case .exited(let code)?: data.append(.init("exit", .integer(Int64(code))))
                case .signaled(let signal)?: data.append(.init("signal", .integer(Int64(signal))))
                default: data.append(.init("exit", .null))
                }
                data += [.init("restarts", .integer(Int64(restarts))), .init("restart_in_secs", .integer(backoff.components.seconds))]
                _ = try? store.append(kind: .agentCrashed, data: .object(data))
                logger.warning("agent crashed", metadata: ["agent": "\(name)", "status": "\(String(describing: status))", "restart_in": "\(backoff)"])
                await waitOrWake(name, backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
                slots.withLock { $0[name]?.state.crashed = false }
            } else {
                // It ended itself because its row says stopped or is gone: not a crash.
                slots.withLock { $0[name]?.stopRequested = true }
                break
            }
        }
    }

    /// Starts the process, waits for it to end; nil when it could not start.
    ///
    /// Spawned with ``Spawn`` and waited for by a thread of its own, blocked in `waitpid`: nothing
    /// in the daemon wakes while an agent runs. (swift-subprocess 1.0, used before, wakes a task
    /// once a second per running process to notice a cancellation: with 10 agents, half a
    /// millisecond of the idle daemon's CPU every second.)
    private func runProcess(_ name: String) async -> Spawn.Termination? {
        let log = configuration.logsDirectory.appending(path: "\(name).log")
        do {
            try FileManager.default.createDirectory(at: configuration.logsDirectory, withIntermediateDirectories: true)
        } catch {
            logger.error("cannot open an agent's log", metadata: ["agent": "\(name)", "error": "\(error)"])
            return nil
        }
        LogRotation.rotateIfNeeded(log, maxBytes: configuration.logMaxBytes, keep: configuration.logFiles)
        let descriptor = open(log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            logger.error("cannot open an agent's log", metadata: ["agent": "\(name)", "error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        let pid: pid_t
        do {
            // Its own process group: a stop reaches whatever it started.
            pid = try Spawn.start(
                configuration.executable, arguments: configuration.arguments(name), stdout: descriptor, stderr: descriptor, group: .newProcessGroup)
            close(descriptor)
        } catch {
            close(descriptor)
            logger.error("cannot start an agent's process", metadata: ["agent": "\(name)", "error": "\(error)"])
            return nil
        }
        started(name, pid: pid)
        let termination = await withTaskCancellationHandler {
            await Self.waitForExit(pid)
        } onCancel: {
            kill(-pid, SIGKILL)
        }
        finished(name)
        return termination
    }

    /// Waits for a child to end on a thread of its own (a blocked `waitpid` costs nothing while
    /// it waits; the shared pool's threads are not for blocking).
    static func waitForExit(_ pid: pid_t) async -> Spawn.Termination? {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Spawn.waitBlocking(pid)) }
            thread.name = "pylon-agent-\(pid)"
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    private func started(_ name: String, pid: Int32) {
        slots.withLock { $0[name]?.state.pid = pid }
        try? FileManager.default.createDirectory(at: configuration.pidDirectory, withIntermediateDirectories: true)
        try? Data("\(pid)\n".utf8).write(to: pidFile(name))
        do {
            try store.startAgent(name: name, pid: pid)
        } catch {
            logger.warning("cannot journal an agent's start", metadata: ["agent": "\(name)", "error": "\(error)"])
        }
        logger.info("agent started", metadata: ["agent": "\(name)", "pid": "\(pid)"])
        // Stopped while it was starting.
        if slots.withLock({ $0[name]?.stopRequested ?? true }) { signal(name, pid: pid) }
    }

    private func finished(_ name: String) {
        slots.withLock { $0[name]?.state.pid = nil }
        try? FileManager.default.removeItem(at: pidFile(name))
    }

    /// A shutdown in a hurry (a second signal, `stop --timeout`): every agent's process group gets
    /// SIGKILL now, without the grace period.
    public func hurry() {
        let pids: [Int32] = slots.withLock { slots in
            for name in slots.keys { slots[name]?.stopRequested = true }
            return slots.values.compactMap(\.state.pid)
        }
        beginShutdown()
        for pid in pids { kill(-pid, SIGKILL) }
    }

    /// Asks an agent's process to end: SIGTERM to its group, SIGKILL after the grace period.
    private func stop(_ name: String, reason: String) {
        let pid: Int32? = slots.withLock { slots in
            guard slots[name] != nil else { return nil }
            slots[name]?.stopRequested = true
            slots[name]?.startAgain = false
            slots[name]?.wake?.fulfill(())
            return slots[name]?.state.pid
        }
        logger.info("stopping an agent", metadata: ["agent": "\(name)", "reason": "\(reason)"])
        if let pid { signal(name, pid: pid) }
    }

    private func signal(_ name: String, pid: Int32) {
        kill(-pid, SIGTERM)
        let grace = configuration.stopGrace
        Task {
            try? await Task.sleep(for: grace)
            if self.slots.withLock({ $0[name]?.state.pid == pid }) {
                self.logger.warning("an agent did not stop in time; killing it", metadata: ["agent": "\(name)", "pid": "\(pid)"])
                kill(-pid, SIGKILL)
            }
        }
    }

    private func waitOrWake(_ name: String, _ duration: Duration) async {
        let wake = Promise<Void>()
        let already = slots.withLock { slots -> Bool in
            slots[name]?.wake = wake
            return slots[name]?.stopRequested ?? true
        }
        if already { return }
        _ = await wait(duration, orUntil: wake)
        slots.withLock { $0[name]?.wake = nil }
    }

    // MARK: Leftovers

    private func pidFile(_ name: String) -> URL { configuration.pidDirectory.appending(path: "\(name).pid") }

    /// Ends the agent processes an earlier daemon left (killed before it could stop them).
    private func endLeftovers() {
        guard let files = try? FileManager.default.contentsOfDirectory(at: configuration.pidDirectory, includingPropertiesForKeys: nil) else {
            return
        }
        for file in files where file.pathExtension == "pid" {
            let name = file.deletingPathExtension().lastPathComponent
            defer { try? FileManager.default.removeItem(at: file) }
            guard let text = try? String(contentsOf: file, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
            else { continue }
            guard Self.isAgentProcess(pid, name: name) else { continue }
            logger.warning("ending an agent process left by an earlier daemon", metadata: ["agent": "\(name)", "pid": "\(pid)"])
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }

    /// Whether `pid` is an agent process for `name` (its command line says so), not a process
    /// that reused the number.
    static func isAgentProcess(_ pid: Int32, name: String) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        #if os(Linux)
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let index = arguments.firstIndex(of: "__agent") else { return false }
            return arguments.indices.contains(index + 1) && arguments[index + 1] == name
        #else
            return true
        #endif
    }
}

/// Size-based rotation of a log file: `NAME.log` → `NAME.log.1` → … → `NAME.log.<keep>`.
enum LogRotation {
    /// Rotates `file` when it has `maxBytes` or more. A process writing to it with O_APPEND goes on
    /// writing to the rotated file until it reopens: call this before starting one.
    static func rotateIfNeeded(_ file: URL, maxBytes: Int, keep: Int) {
        guard shiftOlder(file, maxBytes: maxBytes, keep: keep) else { return }
        try? FileManager.default.moveItem(atPath: file.path, toPath: "\(file.path).1")
    }

    /// Rotates a file that a running process appends to: its content is copied to `NAME.log.1` and
    /// the file emptied in place, so the process goes on writing to `NAME.log`. A line written
    /// between the copy and the truncation can be lost; nothing else is.
    static func rotateInPlace(_ file: URL, maxBytes: Int, keep: Int) {
        guard shiftOlder(file, maxBytes: maxBytes, keep: keep),
            (try? FileManager.default.copyItem(atPath: file.path, toPath: "\(file.path).1")) != nil
        else { return }
        truncate(file.path, 0)
    }

    /// When `file` has reached `maxBytes`: drops `NAME.log.<keep>` and moves each older file one
    /// place on, freeing `NAME.log.1`. False when the file is under the limit (or `keep` is 0).
    private static func shiftOlder(_ file: URL, maxBytes: Int, keep: Int) -> Bool {
        let manager = FileManager.default
        guard let size = (try? manager.attributesOfItem(atPath: file.path))?[.size] as? Int, size >= maxBytes, keep > 0 else { return false }
        let path = file.path
        try? manager.removeItem(atPath: "\(path).\(keep)")
        for index in stride(from: keep - 1, through: 1, by: -1) where manager.fileExists(atPath: "\(path).\(index)") {
            try? manager.moveItem(atPath: "\(path).\(index)", toPath: "\(path).\(index + 1)")
        }
        return true
    }
}
