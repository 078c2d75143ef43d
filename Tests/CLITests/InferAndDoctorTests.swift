import Foundation
import NostrCore
import PylonTestSupport
import Testing

@Suite("infer, doctor, events (process level)", .serialized)
struct InferAndDoctorTests {
    func mockNode(relays: [String] = [], models: [String] = ["mock-model"]) async throws -> (PylonNode, MockLLMServer) {
        var behavior = MockLLMServer.Behavior()
        behavior.models = models
        behavior.tokenCount = 6
        let mock = MockLLMServer(behavior: behavior)
        try await mock.start()
        let node = try PylonNode(
            relays: relays, extraConfig: "[backends]\npreference = [\"ollama\"]\nollama_url = \"\(mock.baseURL)\"\n")
        return (node, mock)
    }

    @Test("infer without a daemon streams straight from the backend")
    func inferDirect() async throws {
        let (node, mock) = try await mockNode()
        defer { Task { await mock.stop() } }
        let result = try node.pylon("infer", "what is the capital of France?")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == MockLLMServer.expectedText(prompt: "what is the capital of France?", count: 6) + "\n")
        let json = try node.pylon("infer", "hello", "--json", "--max-tokens", "3")
        #expect(json.status == 0, "\(json)")
        let object = try #require(try json.json() as? [String: Any])
        #expect(object["model"] as? String == "mock-model")
        #expect(object["backend"] as? String == "ollama")
        #expect(object["output"] as? String == MockLLMServer.expectedText(prompt: "hello", count: 3))  // max_tokens honoured
        #expect((mock.lastRequestJSON(.ollamaChat)?["options"] as? [String: Any])?["num_predict"] as? Int == 3)
        let unknown = try node.pylon("infer", "hi", "--model", "no-such-model")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no-such-model"), "\(unknown)")
    }

    @Test("infer through the running daemon streams token by token; status shows the backend")
    func inferThroughDaemon() async throws {
        let (node, mock) = try await mockNode(models: ["mock-model", "other-model"])
        defer { Task { await mock.stop() } }
        try node.mustStart()
        #expect(await node.awaitStatus { status in
            (status["backends"] as? [[String: Any]])?.contains { $0["state"] as? String == "ready" } == true
        })
        let backends = try #require(try node.status()["backends"] as? [[String: Any]])
        #expect(backends.first?["models"] as? [String] == ["mock-model", "other-model"])
        let streamsBefore = mock.streamsStarted
        let result = try node.pylon("infer", "through the daemon", "--model", "other-model")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == MockLLMServer.expectedText(prompt: "through the daemon", count: 6) + "\n")
        #expect(mock.streamsStarted == streamsBefore + 1)
        #expect(mock.lastRequestJSON(.ollamaChat)?["model"] as? String == "other-model")
        try await node.mustCleanShutdown()
    }

    @Test("doctor: exit 0 when ready, 1 with the reason when not; --json")
    func doctor() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let (node, mock) = try await mockNode(relays: [relay.url])
        let ready = try node.pylon("doctor", "--json")
        #expect(ready.status == 0, "\(ready)")
        let report = try #require(try ready.json() as? [String: Any])
        #expect(report["ready"] as? Bool == true)
        let checks = try #require(report["checks"] as? [[String: Any]])
        #expect(checks.contains { $0["name"] as? String == "backends" && $0["status"] as? String == "ok" })
        #expect(checks.contains { $0["name"] as? String == "relays" && $0["status"] as? String == "ok" })
        // The whole phrase: its first word alone is a common English word ("model", "ready", "one")
        // that doctor's own text may contain, which failed about one run in a hundred.
        let phrase = try String(contentsOf: node.home.file("identity.mnemonic"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!ready.stdout.contains(phrase))
        await mock.stop()
        let notReady = try node.pylon("doctor")
        #expect(notReady.status == 1)
        #expect(notReady.stdout.contains("no inference backend is ready"), "\(notReady)")
        // Host mode needs no backend
        #expect(try node.pylon("doctor", "--mode", "host").status == 0)
    }

    @Test("events: the journal records the daemon's life in order; --since, --json")
    func events() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let node = try PylonNode(relays: [relay.url])
        try node.mustStart()
        #expect(await node.awaitStatus { ($0["relays"] as? [[String: Any]])?.first?["state"] as? String == "connected" })
        try await node.mustCleanShutdown()
        let result = try node.pylon("events", "--json")
        #expect(result.status == 0, "\(result)")
        let entries = try #require(try result.json() as? [[String: Any]])
        let kinds = entries.compactMap { $0["kind"] as? String }
        #expect(kinds.first == "daemon.started")
        #expect(kinds.contains("relay.up"))
        #expect(kinds.suffix(2) == ["shutdown.begin", "shutdown.complete"])
        let seqs = entries.compactMap { $0["seq"] as? Int }
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        let relayUp = try #require(entries.first { $0["kind"] as? String == "relay.up" })
        #expect((relayUp["data"] as? [String: Any])?["url"] as? String == relay.url)
        #expect(entries.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true })
        let since = try node.pylon("events", "--json", "--since", String(seqs[1]))
        let later = try #require(try since.json() as? [[String: Any]])
        #expect(later.compactMap { $0["seq"] as? Int } == Array(seqs.dropFirst(2)))
        let text = try node.pylon("events")
        #expect(text.stdout.contains("daemon.started") && text.stdout.contains("shutdown.complete"))
        #expect(try node.pylon("jobs").stdout.contains("no jobs"))
        let earnings = try node.pylon("earnings", "--json")
        #expect((try earnings.json() as? [String: Any])?["total_msats"] as? Int == 0)
    }

    @Test("events --follow prints new entries as the daemon writes them, one JSON object per line")
    func follow() async throws {
        let node = try PylonNode(extraConfig: "[http]\nlisten = \"\"\n")
        try node.mustStart()
        let process = Process()
        process.executableURL = PylonBinary.url
        process.arguments = ["events", "--follow", "--json"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYLON_HOME"] = node.home.path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let lines = OutputLines(reading: output.fileHandleForReading)
        // The daemon's start is already there; a reload made now must appear too.
        #expect(await awaitCondition(timeout: .seconds(10)) { lines.value.contains { $0.contains("daemon.started") } })
        #expect(try node.pylon("reload").status == 0)
        #expect(await awaitCondition(timeout: .seconds(10)) { lines.value.contains { $0.contains("config.reloaded") } })
        for line in lines.value {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not one JSON object: \(line)")
        }
        output.fileHandleForReading.readabilityHandler = nil
        // [http].listen = "" disables the HTTP server.
        #expect(throws: (any Error).self) { try node.http("/__health") }
        try await node.mustCleanShutdown()
    }
}
