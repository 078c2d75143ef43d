import ControlProtocol
import Daemon
import Foundation
import Logging
import PylonTestSupport
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Config watching and reload")
struct ReloadTests {
    /// Counts the watcher's notifications while `body` runs.
    func watching(_ file: URL, debounce: Duration = .milliseconds(50), _ body: (Recorder<Int>) async throws -> Void) async throws {
        try await watching(ConfigFileWatcher(file: file, debounce: debounce), body)
    }

    func watching(_ watcher: ConfigFileWatcher, _ body: (Recorder<Int>) async throws -> Void) async throws {
        let stream = try watcher.changes()
        let seen = Recorder<Int>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in stream { seen.append(1) }
            }
            try await body(seen)
            group.cancelAll()
        }
    }

    @Test("the watcher fires for an in-place edit")
    func inPlaceEdit() async throws {
        let home = try TestHome()
        let file = try home.write("relays = []\n", to: "config.toml")
        try await watching(file) { seen in
            let handle = try FileHandle(forWritingTo: file)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("# edited\n".utf8))
            try handle.close()
            #expect(await awaitCondition { seen.count >= 1 })
        }
    }

    @Test("the watcher fires when the file is replaced by a rename")
    func renameReplace() async throws {
        let home = try TestHome()
        let file = try home.write("relays = []\n", to: "config.toml")
        try await watching(file) { seen in
            let temporary = try home.write("relays = [\"wss://x.example\"]\n", to: "config.toml.tmp")
            #expect(rename(temporary.path(percentEncoded: false), file.path(percentEncoded: false)) == 0)
            #expect(await awaitCondition { seen.count >= 1 })
            // The watch survives the replacement: a second edit is seen too.
            let again = try home.write("relays = []\n", to: "config.toml.tmp")
            #expect(rename(again.path(percentEncoded: false), file.path(percentEncoded: false)) == 0)
            #expect(await awaitCondition { seen.count >= 2 })
        }
    }

    @Test("other files in the directory do not count, and a burst is debounced")
    func filtering() async throws {
        let home = try TestHome()
        let file = try home.write("relays = []\n", to: "config.toml")
        let watcher = ConfigFileWatcher(file: file, debounce: .milliseconds(250))
        try await watching(watcher) { seen in
            // Other files: seen by the watch and dropped. The config file written after them is
            // the end marker: its change is reported once the directory is quiet, so by then the
            // watch has read every event before it.
            try home.write("x", to: "pylon.db")
            try home.write("y", to: "other.toml")
            try home.write("relays = [] # marker\n", to: "config.toml")
            #expect(await awaitCondition { watcher.counts.notified >= 1 })
            #expect(watcher.counts.ignored >= 2)
            #expect(watcher.counts.notified == 1)
            // A burst of five writes: one notification. Once it is reported nothing is pending and
            // the writes' events were all read (each read extends the wait), so none can follow.
            for index in 0..<5 { try home.write("relays = [] # \(index)\n", to: "config.toml") }
            #expect(await awaitCondition { watcher.counts.notified >= 2 })
            let counts = watcher.counts
            #expect(counts.notified == 2 && !counts.pending)
            #expect(await awaitCondition { seen.count == 2 })
        }
    }

    @Test("a missing directory cannot be watched: an error, not a crash")
    func missingDirectory() {
        #expect(throws: ConfigFileWatcherError.self) {
            try ConfigFileWatcher(file: URL(fileURLWithPath: "/nonexistent-pylon-dir/config.toml")).changes()
        }
    }

    /// Runs a reloader in a service group around `body`.
    func withReloader(
        file: URL, trapHangup: Bool = false, applied: Recorder<ConfigurationChange>, outcomes: Recorder<ReloadOutcome>,
        _ body: (ConfigReloader) async throws -> Void
    ) async throws {
        let initial = try PylonConfiguration.load(from: file).configuration
        let reloader = ConfigReloader(
            file: file, initial: initial, trapHangup: trapHangup, debounce: .milliseconds(50), logger: quietLogger,
            apply: { _, change in applied.append(change) }, observe: { _, outcome in outcomes.append(outcome) })
        let group = ServiceGroup(configuration: .init(services: [reloader], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body(reloader)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("a file change reloads: the new configuration runs and apply hears what changed")
    func reloadOnChange() async throws {
        let home = try TestHome()
        let file = try home.write("[provider]\nmax_queue = 5\n", to: "config.toml")
        let applied = Recorder<ConfigurationChange>()
        let outcomes = Recorder<ReloadOutcome>()
        try await withReloader(file: file, applied: applied, outcomes: outcomes) { reloader in
            #expect(reloader.current.provider.maxQueue == 5)
            // Give the watcher a moment to be in place before editing.
            #expect(await reloader.reload(.command) == .unchanged(warnings: []))
            try home.write("[provider]\nmax_queue = 7\n[http]\nlisten = \"127.0.0.1:4000\"\n", to: "config.toml")
            #expect(await awaitCondition { applied.count == 1 })
            #expect(reloader.current.provider.maxQueue == 7)
            #expect(applied.all.first?.changedKeys == ["provider.max_queue", "http.listen"])
            #expect(applied.all.first?.needsRestart == ["http.listen"])
        }
    }

    @Test("a bad file keeps the running configuration and says why")
    func badReload() async throws {
        let home = try TestHome()
        let file = try home.write("[provider]\nmax_queue = 5\n", to: "config.toml")
        let applied = Recorder<ConfigurationChange>()
        let outcomes = Recorder<ReloadOutcome>()
        try await withReloader(file: file, applied: applied, outcomes: outcomes) { reloader in
            try home.write("[provider]\nmax_queue = \"many\"\n", to: "config.toml")
            let outcome = await reloader.reload(.command)
            guard case .failed(let error) = outcome else {
                Issue.record("expected a failure, got \(outcome)")
                return
            }
            #expect(error.key == "provider.max_queue")
            #expect(outcome.message.contains("the running one stays"))
            #expect(outcome.message.contains("config.toml:2"))
            #expect(reloader.current.provider.maxQueue == 5)
            #expect(applied.count == 0)
            #expect(outcomes.all.contains(outcome))
        }
    }

    @Test("SIGHUP reloads")
    func hangup() async throws {
        let home = try TestHome()
        let file = try home.write("[provider]\nmax_queue = 5\n", to: "config.toml")
        let applied = Recorder<ConfigurationChange>()
        let outcomes = Recorder<ReloadOutcome>()
        // A SIGHUP that arrives before the trap is in place must not end the test process.
        signal(SIGHUP, SIG_IGN)
        try await withReloader(file: file, trapHangup: true, applied: applied, outcomes: outcomes) { reloader in
            _ = await reloader.reload(.command)  // the service runs, so its trap is installed
            try home.write("[provider]\nmax_queue = 9\n", to: "config.toml")
            let reloaded = await awaitCondition(interval: .milliseconds(50)) {
                kill(getpid(), SIGHUP)
                return reloader.current.provider.maxQueue == 9
            }
            #expect(reloaded)
        }
    }

    @Test("after the reloader stops, reload() answers .stopped")
    func stopped() async throws {
        let home = try TestHome()
        let file = try home.write("", to: "config.toml")
        let reloader = ConfigReloader(
            file: file, initial: .defaults, watchFile: false, trapHangup: false, logger: quietLogger, apply: { _, _ in })
        let group = ServiceGroup(configuration: .init(services: [reloader], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await reloader.reload() == .unchanged(warnings: []))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(await reloader.reload() == .stopped)
    }
}

@Suite("Reload outcome")
struct ReloadOutcomeTests {
    @Test("outcomes map to the socket's answers")
    func controlResponse() throws {
        let change = ConfigurationChange(changedKeys: ["log.level", "http.listen"])
        guard case .reloaded(let summary) = ReloadOutcome.applied(change, warnings: []).controlResponse else {
            Issue.record("expected Reloaded")
            return
        }
        #expect(summary.changed == ["log.level", "http.listen"])
        #expect(summary.needsRestart == ["http.listen"])
        #expect(summary.message.contains("needs a restart"))
        let error = ConfigurationError(.invalidValue, file: "c.toml", issues: [.init(key: "log.level", line: 2, message: "expected a level")])
        #expect(ReloadOutcome.failed(error).controlResponse == .error("the configuration was not reloaded, the running one stays: c.toml:2: log.level: expected a level"))
        #expect(ReloadOutcome.stopped.controlResponse == .error("the daemon is shutting down"))
    }

    @Test("a NUL byte in the file is a syntax error with its line")
    func nulByte() {
        #expect {
            try PylonConfiguration.parse("relays = []\n[log]\nlevel = \"info\u{0}\"\n", file: "c.toml")
        } throws: { error in
            (error as? ConfigurationError)?.line == 3
        }
    }
}
