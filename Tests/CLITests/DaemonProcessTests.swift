import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// The daemon as a user runs it: the built binary, a temporary `PYLON_HOME`, a real relay.
@Suite("Daemon lifecycle (process level)", .serialized)
struct DaemonProcessTests {
    @Test("start, status, stop: background daemon, answers Ping, cleans up")
    func startStatusStop() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let node = try PylonNode(relays: [relay.url])
        // When
        try node.mustStart()
        // Then: running, the socket and PID file are there with private modes
        let pid = try #require(node.pid)
        #expect(ProcessState.isAlive(pid))
        #expect(FileSystemModes.mode(node.socket) == 0o600)
        #expect(FileSystemModes.mode(node.pidFile) == 0o600)
        #expect(FileSystemModes.mode(node.home.url) == 0o700)
        #expect(await node.awaitStatus { ($0["relays"] as? [[String: Any]])?.first?["state"] as? String == "connected" })
        let status = try node.status()
        #expect(status["running"] as? Bool == true)
        #expect(status["pid"] as? Int == Int(pid))
        #expect(status["mode"] as? String == "both")
        for key in ["uptime_secs", "version", "provider_active", "host_active", "jobs_completed", "earnings_msats", "backends", "queue", "earnings"] {
            #expect(status[key] != nil, "status has \(key)")
        }
        let text = try node.pylon("status")
        #expect(text.status == 0)
        #expect(text.stdout.contains("connected") && text.stdout.contains(relay.url))
        // And stop removes everything
        try await node.mustCleanShutdown()
        let after = try node.pylon("status", "--json")
        #expect(after.status == 3)
        #expect(after.stdout.contains("\"running\" : false") || after.stdout.contains("\"running\":false"))
        let stopAgain = try node.pylon("stop")
        #expect(stopAgain.status == 1)
        #expect(stopAgain.stderr.contains("not running"))
        let reload = try node.pylon("reload")
        #expect(reload.status == 1)
    }

    @Test("two concurrent starts give one daemon; the other says so")
    func doubleStart() async throws {
        let node = try PylonNode()
        async let first = Task.detached { try node.pylon("start") }.value
        async let second = Task.detached { try node.pylon("start") }.value
        let results = try await [first, second]
        #expect(results.filter { $0.status == 0 }.count == 1, "\(results)")
        let loser = try #require(results.first { $0.status != 0 })
        #expect(loser.stderr.contains("already running"), "\(loser)")
        let third = try node.pylon("start")
        #expect(third.status == 1 && third.stderr.contains("already running"))
        try await node.mustCleanShutdown()
    }

    @Test("kill -9, then start: the stale PID file and socket are replaced")
    func staleFiles() async throws {
        let node = try PylonNode()
        try node.mustStart()
        let pid = try #require(node.pid)
        kill(pid, SIGKILL)
        #expect(await node.awaitExit(pid))
        #expect(FileManager.default.fileExists(atPath: node.pidFile.path))
        #expect(FileManager.default.fileExists(atPath: node.socket.path))
        let status = try node.pylon("status")
        #expect(status.status == 3, "\(status)")
        try node.mustStart()
        let newPID = try #require(node.pid)
        #expect(newPID != pid)
        #expect(try node.status()["pid"] as? Int == Int(newPID))
        try await node.mustCleanShutdown()
    }

    @Test("SIGTERM and SIGINT: graceful shutdown, exit 0, files removed")
    func signals() async throws {
        for signal in [SIGTERM, SIGINT] {
            let node = try PylonNode()
            try node.mustStart()
            let pid = try #require(node.pid)
            kill(pid, signal)
            #expect(await node.awaitExit(pid))
            #expect(!FileManager.default.fileExists(atPath: node.pidFile.path))
            #expect(!FileManager.default.fileExists(atPath: node.socket.path))
            #expect(node.log.contains("pylon stopped"))
        }
    }

    @Test("foreground mode: logs on stderr, SIGTERM exits 0")
    func foreground() async throws {
        let node = try PylonNode()
        let process = Process()
        process.executableURL = PylonBinary.url
        process.arguments = ["start", "-f"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYLON_HOME"] = node.home.path
        environment["HOME"] = node.home.path
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        #expect(await awaitCondition(timeout: .seconds(15)) { (try? node.status())?["running"] as? Bool == true })
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("pylon started") && log.contains("pylon stopped"))
        #expect(!FileManager.default.fileExists(atPath: node.pidFile.path))
    }

    @Test("stop --timeout sends SIGTERM when the daemon does not answer; --force kills it")
    func stopTimeoutAndForce() async throws {
        let node = try PylonNode()
        try node.mustStart()
        let pid = try #require(node.pid)
        // A stopped process cannot answer Shutdown nor act on SIGTERM.
        kill(pid, SIGSTOP)
        let gentle = try node.pylon("stop", "--timeout", "1")
        #expect(gentle.status != 0)
        #expect(gentle.stderr.contains("SIGTERM") && gentle.stderr.contains("--force"), "\(gentle)")
        #expect(ProcessState.isAlive(pid))
        let forced = try node.pylon("stop", "--timeout", "1", "--force")
        #expect(forced.status == 0, "\(forced)")
        #expect(await node.awaitExit(pid))
        // The next start works
        try node.mustStart()
        try await node.mustCleanShutdown()
    }

    @Test("a bad config stops start with the file, line and key")
    func badConfigOnStart() throws {
        let node = try PylonNode(extraConfig: "[provider]\nmax_concurrent_jobs = \"two\"\n")
        let result = try node.pylon("start")
        #expect(result.status != 0)
        #expect(result.stderr.contains("config.toml"), "\(result)")
        #expect(result.stderr.contains("max_concurrent_jobs"))
        #expect(result.stderr.range(of: #":\d+:"#, options: .regularExpression) != nil, "names the line: \(result.stderr)")
        // One "error: " prefix: the daemon's own, taken over by `start`, is not printed twice.
        #expect(result.stderr.hasPrefix("error: \(node.configFile.path):"), "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "error: ").count == 2, "\(result.stderr)")
        #expect(node.pid == nil || !ProcessState.isAlive(node.pid ?? 0))
    }

    @Test("start without an identity, or with the HTTP port taken, says why")
    func startErrors() throws {
        let fresh = try PylonNode(initialize: false)
        let noIdentity = try fresh.pylon("start")
        #expect(noIdentity.status != 0)
        #expect(noIdentity.stderr.contains("pylon init"))

        let busy = try PylonNode()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(busy.httpPort).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        #expect(bound && listen(listener, 1) == 0)
        let result = try busy.pylon("start")
        #expect(result.status != 0)
        #expect(result.stderr.contains("already in use") && result.stderr.contains("[http].listen"), "\(result)")
    }

    @Test("reload: SIGHUP, a changed file, `pylon reload`; a bad reload keeps the running config")
    func reloads() async throws {
        let first = try await RelayProcess.start(.rustNostr)
        let second = try await RelayProcess.start(.rustNostr)
        let node = try PylonNode(relays: [first.url])
        try node.mustStart()
        let pid = try #require(node.pid)
        @Sendable func relays(_ status: [String: Any]) -> [String] { (status["relays"] as? [[String: Any]])?.compactMap { $0["url"] as? String } ?? [] }
        // SIGHUP after an edit
        try node.writeConfig(relays: [second.url])
        kill(pid, SIGHUP)
        #expect(await node.awaitStatus { relays($0) == [second.url] })
        // A file edit alone (replaced by rename, as editors do)
        let temporary = node.home.file("config.toml.new")
        let text = try String(contentsOf: node.configFile, encoding: .utf8).replacingOccurrences(of: second.url, with: "\(first.url)\", \"\(second.url)")
        try Data(text.utf8).write(to: temporary)
        rename(temporary.path, node.configFile.path)
        #expect(await node.awaitStatus { Set(relays($0)) == [first.url, second.url] })
        // A bad edit: `pylon reload` says why and the daemon keeps the last good config
        try Data("relays = [\"ws://127.0.0.1:1\"]\n[provider]\nmax_queue = -5\n".utf8).write(to: node.configFile)
        let reload = try node.pylon("reload")
        #expect(reload.status != 0)
        #expect(reload.stderr.contains("max_queue"), "\(reload)")
        #expect(Set(relays(try node.status())) == [first.url, second.url])
        #expect(ProcessState.isAlive(pid))
        // A good `pylon reload` reports what changed. The file watcher sees the same edit and may
        // apply it first, in which case the command finds nothing left to change: either way the
        // change is reported once, naming the relays, by whichever trigger applied it.
        try node.writeConfig(relays: [first.url])
        let good = try node.pylon("reload", "--json")
        #expect(good.status == 0, "\(good)")
        #expect(await node.awaitStatus { relays($0) == [first.url] })
        let reloads = try (node.pylon("events", "--json").json() as? [[String: Any]] ?? [])
            .filter { $0["kind"] as? String == "config.reloaded" }.compactMap { $0["data"] as? [String: Any] }
        let last = try #require(reloads.last { ($0["message"] as? String)?.contains("relays") == true })
        let trigger = last["trigger"] as? String
        #expect(trigger == "reload command" ? good.stdout.contains("relays") : trigger == "file change", "\(good) \(reloads)")
        // The removed relay's series leave /metrics: a pylon_relay_connected left at 0 would look
        // like a relay down to an alert rule. The relay removed and added again has its series back.
        #expect(await awaitCondition(timeout: .seconds(10)) {
            let lines = ((try? node.http("/metrics").body) ?? "").split(separator: "\n")
            return lines.contains { $0.hasPrefix("pylon_relay_connected{relay=\"ws://127.0.0.1:\(first.port)") && $0.split(separator: " ").last.flatMap { Double($0) } == 1 }
        })
        let metrics = try node.http("/metrics").body
        #expect(metrics.contains("pylon_relay_connected{relay=\"ws://127.0.0.1:\(first.port)"), "\(metrics)")
        #expect(!metrics.contains("127.0.0.1:\(second.port)"), "\(metrics)")
        try await node.mustCleanShutdown()
    }

    @Test("the control socket survives garbage and many clients at once")
    func controlSocket() async throws {
        let node = try PylonNode()
        try node.mustStart()
        let path = node.socket.path
        let answers = try await withThrowingTaskGroup(of: [String].self) { group in
            for i in 0..<16 {
                group.addTask {
                    try RawSocket.exchange(path: path, lines: [#"{"Ping":null}"#, "garbage \(i)", #"{"Status":null}"#, #"{"Ping":1,"Status":null}"#, #""Ping""#])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for lines in answers {
            #expect(lines.count == 5)
            #expect(lines[0] == #"{"Pong":null}"#)
            #expect(lines[1].hasPrefix(#"{"Error":"#))
            #expect(lines[2].hasPrefix(#"{"Status":{"#))
            #expect(lines[3].hasPrefix(#"{"Error":"#))
            #expect(lines[4] == #"{"Pong":null}"#)
        }
        #expect(try node.status()["running"] as? Bool == true)
        try await node.mustCleanShutdown()
    }

    @Test("HTTP: /metrics is Prometheus text; health and readiness endpoints")
    func http() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let node = try PylonNode(relays: [relay.url])
        try node.mustStart("--mode", "host")
        #expect(await node.awaitStatus { ($0["relays"] as? [[String: Any]])?.first?["state"] as? String == "connected" })
        let metrics = try node.http("/metrics")
        #expect(metrics.status == 200)
        try PrometheusText.mustParse(metrics.body)
        // Host mode's families (agents by state, ticks, spend, restarts) pass promtool's lint too.
        #expect(metrics.body.contains("# HELP pylon_agents "))
        let lint = try PrometheusTools.promtool(["check", "metrics"], stdin: metrics.body)
        #expect(lint.status == 0 && lint.stdout.isEmpty && lint.stderr.isEmpty, "promtool check metrics: \(lint)")
        #expect(metrics.body.contains("pylon_process_uptime_seconds"))
        #expect(metrics.body.contains("pylon_process_resident_memory_bytes"))
        #expect(metrics.body.contains("pylon_relay_connected"))
        #expect(try node.http("/__health").status == 200)
        #expect(try node.http("/healthz").status == 200)
        // Host mode with a connected relay is ready; nothing else is required of it
        let ready = try node.http("/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        try await node.mustCleanShutdown()

        // Provider mode without a backend is not ready, and says why
        let provider = try PylonNode(relays: [relay.url])
        try provider.mustStart("--mode", "provider")
        let notReady = try provider.http("/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.body.contains("backend"))
        try await provider.mustCleanShutdown()
    }
}

/// One connection, several request lines, one answer line each.
enum RawSocket {
    static func exchange(path: String, lines: [String]) throws -> [String] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard connected else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
        let payload = Array((lines.joined(separator: "\n") + "\n").utf8)
        _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.filter({ $0 == 0x0A }).count < lines.count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// A strict reader of the Prometheus text exposition format (0.0.4).
enum PrometheusText {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    static func mustParse(_ text: String) throws {
        let sample = try NSRegularExpression(
            pattern: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$"#)
        var samples = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("#") { throw Invalid(description: "unexpected comment: \(line)") }
            let string = String(line)
            guard sample.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil else {
                throw Invalid(description: "not a Prometheus sample line: \(line)")
            }
            samples += 1
        }
        if samples == 0 { throw Invalid(description: "no samples") }
    }
}

@Suite("Secrets and log format (process level)")
struct SecretsTests {
    @Test("the NWC secret and the phrase never reach logs, --json output or errors; JSON logs are one object per line")
    func secretsStayOut() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let walletKey = Keypair.generate().publicKey.hex
        let secret = SecretKey.generate().hex
        let uri = "nostr+walletconnect://\(walletKey)?relay=ws%3A%2F%2F127.0.0.1%3A9&secret=\(secret)"
        let node = try PylonNode(relays: [relay.url], extraConfig: "[wallet]\nnwc = \"\(uri)\"\n[log]\nlevel = \"trace\"\nformat = \"json\"\n")
        let phrase = try String(contentsOf: node.home.file("identity.mnemonic"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let identitySecret = NIP06.keypair(from: try Mnemonic(phrase: phrase)).secretKey
        try node.mustStart()
        #expect(await node.awaitStatus { ($0["relays"] as? [[String: Any]])?.first?["state"] as? String == "connected" })
        var outputs = [node.log]
        for arguments in [["status", "--json"], ["doctor", "--json"], ["identity", "--json"], ["events", "--json"], ["reload", "--json"]] {
            let result = try node.home.run(arguments)
            outputs += [result.stdout, result.stderr]
        }
        // A bad edit that contains the secret: the error must not echo it.
        try Data("[wallet]\nnwc = \"\(uri)x\"\n".utf8).write(to: node.configFile)
        let bad = try node.pylon("reload")
        #expect(bad.status != 0)
        outputs += [bad.stdout, bad.stderr]
        try await node.mustCleanShutdown()
        outputs.append(node.log)
        for text in outputs {
            #expect(!text.contains(secret), "the NWC secret leaked: \(text.prefix(300))")
            #expect(!text.contains(phrase), "the phrase leaked")
            #expect(!text.contains(identitySecret.hex), "the secret key leaked")
            #expect(!text.contains(identitySecret.nsec), "the nsec leaked")
        }
        // With format = "json", every log line is one JSON object.
        let lines = node.log.split(separator: "\n")
        #expect(lines.count > 5)
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["message"] != nil, "not a JSON log line: \(line)")
        }
    }
}
