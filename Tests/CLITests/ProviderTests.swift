import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// Provider mode end to end (SPEC §8): the real binary, a real relay (`nostr-relay`), the mock LLM
/// server, and a customer on rust-nostr's `nostr-sdk`.
final class ProviderRig: Sendable {
    let relay: RelayProcess
    let mock: MockLLMServer
    let node: PylonNode
    let customer: DVMCustomer
    let provider: String

    /// Starts a relay, the mock backend and a provider node, and waits until the node is ready.
    static func start(
        provider extra: String = "", behavior: MockLLMServer.Behavior = MockLLMServer.Behavior(), relays extraRelays: [RelayProcess] = [],
        relay implementation: RelayProcess.Implementation = .nostrRelay, relayOptions: RelayProcess.Options = .init()
    ) async throws -> ProviderRig {
        let relay = try await RelayProcess.start(implementation, options: relayOptions)
        let mock = MockLLMServer(behavior: behavior)
        try await mock.start()
        let relayURLs = [relay.url] + extraRelays.map(\.url)
        let node = try PylonNode(
            relays: relayURLs,
            extraConfig: """
                [provider]
                \(extra.contains("rate_limit_per_minute") ? "" : "rate_limit_per_minute = 0")
                \(extra)
                [backends]
                preference = ["llamacpp"]
                llamacpp_url = "\(mock.baseURL)"

                """)
        try node.mustStart("--mode", "provider")
        let ready = await node.awaitStatus(timeout: .seconds(20)) { status in
            let relays = status["relays"] as? [[String: Any]] ?? []
            let backends = status["backends"] as? [[String: Any]] ?? []
            return relays.allSatisfy { $0["state"] as? String == "connected" } && backends.contains { $0["state"] as? String == "ready" }
        }
        guard ready else { throw PylonNode.NodeError(message: "the provider did not get ready: \(node.log.suffix(3000))") }
        let identity = try node.pylon("identity", "--json").json() as? [String: Any]
        guard let provider = identity?["pubkey"] as? String else { throw PylonNode.NodeError(message: "no pubkey in identity --json") }
        let customer = try await DVMCustomer(relays: relayURLs)
        return ProviderRig(relay: relay, mock: mock, node: node, customer: customer, provider: provider)
    }

    init(relay: RelayProcess, mock: MockLLMServer, node: PylonNode, customer: DVMCustomer, provider: String) {
        self.relay = relay
        self.mock = mock
        self.node = node
        self.customer = customer
        self.provider = provider
    }

    /// Stops the daemon and the relay when the test lets go of the rig (the mock server lives in
    /// the test process and goes with it).
    deinit {
        _ = try? node.pylon("stop")
        relay.stop()
    }

    /// The journal as parsed entries.
    func journal() throws -> [[String: Any]] {
        try node.pylon("events", "--json").json() as? [[String: Any]] ?? []
    }

    func metric(_ name: String) throws -> Double? {
        let line = try node.http("/metrics").body.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    func metric(_ name: String, label: String) throws -> Double? {
        let body = try node.http("/metrics").body
        let line = body.split(separator: "\n").first { $0.hasPrefix("\(name){\(label)}") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}

func tags(_ message: [String: Any]) -> [[String]] { message["tags"] as? [[String]] ?? [] }
func tag(_ message: [String: Any], _ name: String) -> [String]? { tags(message).first { $0.first == name } }

@Suite("provider mode: NIP-90 end to end", .serialized)
struct ProviderTests {
    @Test("a plain request gets processing, the result with request/e/p/i tags, then success; jobs and the journal record it")
    func plainRequest() async throws {
        let rig = try await ProviderRig.start()
        let prompt = "what is the capital of France?"
        let id = try await rig.customer.request(inputs: [[prompt, "text"]], params: [["max_tokens", "5"]], provider: rig.provider)
        let result = try #require(await rig.customer.awaitResult(for: id))
        #expect(result["kind"] as? Int == 6050)
        #expect(result["content"] as? String == MockLLMServer.expectedText(prompt: prompt, count: 5))
        #expect(result["pubkey"] as? String == rig.provider)
        #expect(tag(result, "e")?[1] == id)
        #expect(tag(result, "p")?[1] == rig.customer.pubkey)
        #expect(tag(result, "i") == ["i", prompt, "text"])
        let echoed = try #require(tag(result, "request")?[1])
        #expect((try JSONSerialization.jsonObject(with: Data(echoed.utf8)) as? [String: Any])?["id"] as? String == id)
        #expect(tag(result, "amount") == nil, "a free job carries no amount")
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        #expect(rig.customer.statuses(for: id).first == "processing")
        #expect(rig.customer.results(for: id).count == 1)
        // The mock saw the params mapped.
        #expect(rig.mock.lastRequestJSON(.openAIChat)?["max_tokens"] as? Int == 5)

        let jobs = try #require(try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])
        let job = try #require(jobs.first { $0["id"] as? String == id })
        #expect(job["status"] as? String == "completed")
        #expect(job["model"] as? String == "mock-model")
        #expect(job["completion_tokens"] as? Int == 5)
        let entries = try rig.journal().filter { ($0["data"] as? [String: Any])?["id"] as? String == id }
        #expect(entries.map { $0["kind"] as? String ?? "" } == ["job.received", "job.admitted", "job.started", "job.completed"])
        // A slot was free: the job started in the write that admitted it.
        #expect(Set(entries.prefix(3).compactMap { $0["time"] as? String }).count == 1)
        #expect(try rig.metric("pylon_provider_jobs_finished_total", label: "outcome=\"completed\"") == 1)
    }

    @Test("NIP-04 and NIP-44 encrypted requests are answered encrypted with the same scheme, without i tags")
    func encrypted() async throws {
        let rig = try await ProviderRig.start()
        for scheme in ["nip04", "nip44"] {
            let prompt = "a secret question for \(scheme)"
            let id = try await rig.customer.request(inputs: [[prompt, "text"]], params: [["max_tokens", "4"]], provider: rig.provider, encrypt: scheme)
            let result = try #require(await rig.customer.awaitResult(for: id), "\(scheme)")
            #expect(result["encrypted"] as? Bool == true)
            #expect(result["content"] as? String == MockLLMServer.expectedText(prompt: prompt, count: 4), "\(scheme) decrypts to the output")
            #expect(tag(result, "i") == nil, "an encrypted result echoes no input")
            #expect(tag(result, "encrypted") != nil)
            #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        }
        // Nothing of the plaintext reached the journal.
        let text = try rig.node.pylon("events", "--json").stdout
        #expect(!text.contains("a secret question"))
    }

    @Test("the same request through two relays is served once")
    func twoRelays() async throws {
        let second = try await RelayProcess.start(.nostrRelay)
        defer { second.stop() }
        let rig = try await ProviderRig.start(relays: [second])
        let id = try await rig.customer.request(inputs: [["hello from two relays", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        // The second relay's copy has reached the provider once its pool counts it a duplicate:
        // from then on, one run and one result are all there will be.
        #expect(await awaitCondition(timeout: .seconds(10)) {
            ((try? rig.metric("pylon_relay_events_rejected_total", label: "reason=\"duplicate\"")) ?? 0) >= 1
        }, "the copy through the second relay arrived")
        #expect(rig.mock.calls(.openAIChat) == 1)
        #expect(try await RelayQuery.events(rig.relay.url, filter: ["kinds": [6050], "#e": [id]]).count == 1)
        #expect(rig.customer.results(for: id).count == 1)
    }

    @Test("requests for another provider, stale, future and expired ones are ignored, and counted")
    func ignored() async throws {
        let rig = try await ProviderRig.start()
        let now = Int64(Date().timeIntervalSince1970)
        let other = String(repeating: "ab", count: 32)
        let forOther = try await rig.customer.request(inputs: [["not for you", "text"]], provider: other)
        let stale = try await rig.customer.request(inputs: [["old", "text"]], provider: rig.provider, createdAt: now - 3600)
        let future = try await rig.customer.request(inputs: [["later", "text"]], provider: rig.provider, createdAt: now + 3600)
        let expired = try await rig.customer.request(inputs: [["expired", "text"]], provider: rig.provider, expiration: now - 5)
        // A request sent after them and served proves they were all looked at.
        let served = try await rig.customer.request(inputs: [["served", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: served) != nil)
        for id in [forOther, stale, future, expired] {
            #expect(rig.customer.messages(for: id).isEmpty, "no answer to \(id)")
        }
        #expect(try rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"other_provider\"") == 1)
        #expect(try rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"future\"") == 1)
        #expect(try rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"expired\"") == 1)
        let rejected = try rig.journal().filter { $0["kind"] as? String == "job.rejected" }.compactMap { ($0["data"] as? [String: Any])?["reason"] as? String }
        // A stale request never arrives: the subscription asks only for requests young enough.
        #expect(Set(rejected) == ["future", "expired"], "rejections are journaled; another provider's request is not ours to journal")

        #expect(try rig.metric("pylon_provider_requests_received_total") == 4)
    }

    @Test("a forged request (valid shape, bad signature) is dropped by the pool and never served")
    func forged() async throws {
        let rig = try await ProviderRig.start(relayOptions: .init(verifySignatures: false))
        let author = Keypair(SecretKey.generate())
        let genuine = UnsignedEvent(
            pubkey: author.publicKey, createdAt: Int64(Date().timeIntervalSince1970), kind: 5050,
            tags: [["i", "forged", "text"], ["p", rig.provider]]
        ).sign(with: author)
        let forged = Event(
            id: genuine.id, pubkey: genuine.pubkey, createdAt: genuine.createdAt, kind: genuine.kind, tags: genuine.tags,
            content: "changed after signing", sig: genuine.sig)
        // A correct id with a signature made for another event.
        let other = UnsignedEvent(
            pubkey: author.publicKey, createdAt: genuine.createdAt, kind: 5050, tags: [["i", "forged too", "text"], ["p", rig.provider]]
        ).sign(with: author)
        let badSignature = Event(
            id: other.id, pubkey: other.pubkey, createdAt: other.createdAt, kind: other.kind, tags: other.tags, content: other.content,
            sig: genuine.sig)
        let lines = [forged, badSignature].map { ClientMessage.event($0).jsonString }.joined(separator: "\n")
        _ = try PythonPeers.run(script: "raw_client.py", arguments: [rig.relay.url, "1"], input: Data(lines.utf8))
        let served = try await rig.customer.request(inputs: [["after the forgeries", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: served) != nil)
        #expect(try rig.metric("pylon_provider_requests_received_total") == 1, "only the genuine request reached the provider")
        #expect(try rig.metric("pylon_relay_events_rejected_total", label: "reason=\"invalid_id\"") == 1)
        #expect(try rig.metric("pylon_relay_events_rejected_total", label: "reason=\"invalid_signature\"") == 1)
        #expect(rig.mock.calls(.openAIChat) == 1)
    }

    @Test("errors: an unknown model, a backend failing mid-stream, too much input, a bad param, url inputs off")
    func errors() async throws {
        let rig = try await ProviderRig.start(provider: "max_input_bytes = 64\n")
        let unknown = try await rig.customer.request(inputs: [["hi", "text"]], params: [["model", "no-such-model"]], provider: rig.provider)
        let error = try #require(await rig.customer.awaitStatus("error", for: unknown))
        #expect((error["extra"] as? String ?? "").contains("no-such-model"))
        #expect(rig.customer.results(for: unknown).isEmpty)

        let large = try await rig.customer.request(inputs: [[String(repeating: "x", count: 100), "text"]], provider: rig.provider)
        #expect((try #require(await rig.customer.awaitStatus("error", for: large))["extra"] as? String ?? "").contains("64"))

        let badParam = try await rig.customer.request(inputs: [["hi", "text"]], params: [["temperature", "hot"]], provider: rig.provider)
        #expect((try #require(await rig.customer.awaitStatus("error", for: badParam))["extra"] as? String ?? "").contains("temperature"))

        let url = try await rig.customer.request(inputs: [["http://127.0.0.1:9/x", "url"]], provider: rig.provider)
        #expect((try #require(await rig.customer.awaitStatus("error", for: url))["extra"] as? String ?? "").contains("url"))

        rig.mock.update { $0.fault = .errorMidStream }
        let broken = try await rig.customer.request(inputs: [["break please", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("processing", for: broken) != nil)
        let failed = try #require(await rig.customer.awaitStatus("error", for: broken))
        #expect(!(failed["extra"] as? String ?? "").isEmpty)
        #expect(rig.customer.results(for: broken).isEmpty)
        let jobs = try #require(try rig.node.pylon("jobs", "--json", "--status", "failed").json() as? [[String: Any]])
        #expect(Set(jobs.compactMap { $0["id"] as? String }) == [unknown, broken])
    }

    @Test("a full queue answers busy; status, DumpState, /metrics and /readyz show the queue and slots")
    func fullQueue() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(400)
        let rig = try await ProviderRig.start(provider: "max_concurrent_jobs = 1\nmax_queue = 1\n", behavior: behavior)
        let first = try await rig.customer.request(inputs: [["one", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("processing", for: first) != nil)
        let second = try await rig.customer.request(inputs: [["two", "text"]], provider: rig.provider)
        #expect(await rig.node.awaitStatus { ($0["queue"] as? [String: Any])?["queued"] as? Int == 1 })
        let third = try await rig.customer.request(inputs: [["three", "text"]], provider: rig.provider)
        let busy = try #require(await rig.customer.awaitStatus("error", for: third))
        #expect((busy["extra"] as? String ?? "").hasPrefix("busy"))

        let queue = try #require(try rig.node.status()["queue"] as? [String: Any])
        #expect(queue["running"] as? Int == 1)
        #expect(queue["slots"] as? Int == 1)
        #expect(queue["max_queue"] as? Int == 1)
        let answer = try #require(try RawSocket.exchange(path: rig.node.socket.path, lines: [#"{"DumpState": null}"#]).first)
        let state = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
        let scheduler = try #require((state?["State"] as? [String: Any])?["scheduler"] as? [String: Any])
        #expect((scheduler["running"] as? [[String: Any]])?.first?["id"] as? String == first)
        #expect((scheduler["queued"] as? [[String: Any]])?.first?["id"] as? String == second)
        #expect(try rig.metric("pylon_provider_queue_jobs") == 1)
        #expect(try rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"busy\"") == 1)
        let ready = try rig.node.http("/readyz")
        #expect(ready.body.contains("queue is full"))

        // Both admitted jobs finish, in order.
        #expect(await rig.customer.awaitStatus("success", for: first) != nil)
        #expect(await rig.customer.awaitStatus("success", for: second, timeout: .seconds(30)) != nil)
        // The second waited in the queue for the slot: the third was turned away while it waited,
        // and it started once the first had handed over its result (the first counts as
        // completed when a relay accepts that result, which may come before or after).
        let journal = try rig.journal()
        func seq(_ kind: String, _ id: String) -> Int? {
            journal.first { $0["kind"] as? String == kind && ($0["data"] as? [String: Any])?["id"] as? String == id }?["seq"] as? Int
        }
        let firstStarted = try #require(seq("job.started", first))
        let secondAdmitted = try #require(seq("job.admitted", second))
        let thirdRejected = try #require(seq("job.rejected", third))
        let secondStarted = try #require(seq("job.started", second))
        #expect(firstStarted < secondAdmitted && secondAdmitted < thirdRejected && thirdRejected < secondStarted)
        #expect(seq("job.completed", first) != nil)
    }

    @Test("partial feedback streams the output while a slow job runs")
    func partials() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(350)
        let rig = try await ProviderRig.start(behavior: behavior)
        let prompt = "stream me some words please"
        let id = try await rig.customer.request(inputs: [[prompt, "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: id, timeout: .seconds(30)) != nil)
        let partials = rig.customer.messages(for: id).filter { $0["status"] as? String == "partial" }.compactMap { $0["content"] as? String }
        #expect(!partials.isEmpty)
        #expect(partials.count <= 4, "throttled to about one a second")
        let result = try #require(rig.customer.results(for: id).first)
        #expect((result["content"] as? String ?? "").hasPrefix(partials.joined()), "the partials are the start of the output, in order")
    }

    @Test("a kind 5 deletion by the customer cancels a running job and a queued one; someone else's deletion does not")
    func cancellation() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(500)
        behavior.tokenCount = 20
        let rig = try await ProviderRig.start(provider: "max_concurrent_jobs = 1\n", behavior: behavior)
        let running = try await rig.customer.request(inputs: [["long job", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("processing", for: running) != nil)
        let queued = try await rig.customer.request(inputs: [["queued job", "text"]], provider: rig.provider)
        #expect(await rig.node.awaitStatus { ($0["queue"] as? [String: Any])?["queued"] as? Int == 1 })
        // A stranger's deletion of the running job changes nothing.
        let stranger = try await DVMCustomer(relays: [rig.relay.url])
        try await stranger.delete(running)
        try await rig.customer.delete(queued)
        let queuedError = try #require(await rig.customer.awaitStatus("error", for: queued))
        #expect((queuedError["extra"] as? String ?? "").contains("cancelled"))
        #expect(rig.customer.statuses(for: running).contains("error") == false)
        try await rig.customer.delete(running)
        let runningError = try #require(await rig.customer.awaitStatus("error", for: running))
        #expect((runningError["extra"] as? String ?? "").contains("cancelled"))
        #expect(rig.customer.results(for: running).isEmpty)
        let jobs = try #require(try rig.node.pylon("jobs", "--json", "--status", "cancelled").json() as? [[String: Any]])
        #expect(Set(jobs.compactMap { $0["id"] as? String }) == [running, queued])
        #expect(await awaitCondition(timeout: .seconds(5)) { rig.mock.streamsAborted >= 1 }, "the backend request was aborted")
    }

    @Test("kill -9 in the middle of a job: after a restart the job ends with exactly one result")
    func killDuringJob() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(500)
        let rig = try await ProviderRig.start(behavior: behavior)
        let id = try await rig.customer.request(inputs: [["survive a crash", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("processing", for: id) != nil)
        let pid = try #require(rig.node.pid)
        kill(pid, SIGKILL)
        #expect(await rig.node.awaitExit(pid))
        rig.mock.update { $0.perTokenDelay = .zero }
        try rig.node.mustStart("--mode", "provider")
        let result = try #require(await rig.customer.awaitResult(for: id, timeout: .seconds(30)))
        #expect(result["content"] as? String == MockLLMServer.expectedText(prompt: "survive a crash", count: 8))
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        // `success` follows the completion's journal entry: the job ran once more after the crash
        // and ended once, and the relay holds one result for it.
        let kinds = try rig.journal().filter { ($0["data"] as? [String: Any])?["id"] as? String == id }.map { $0["kind"] as? String ?? "" }
        #expect(kinds == ["job.received", "job.admitted", "job.started", "job.requeued", "job.started", "job.completed"])
        #expect(try await RelayQuery.events(rig.relay.url, filter: ["kinds": [6050], "#e": [id]]).count == 1)
        #expect(rig.customer.results(for: id).count == 1)
    }

    @Test("a job whose result reached the relays before a crash is closed with that result, not run again")
    func recoveryFindsResult() async throws {
        let rig = try await ProviderRig.start()
        let id = try await rig.customer.request(inputs: [["answered once", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        try await rig.node.mustCleanShutdown()
        // As if the daemon died after publishing the result and before recording it.
        try SQLite.execute(rig.node.home.file("pylon.db"), "UPDATE jobs SET status = 'running', result_event_id = NULL, finished_at = NULL WHERE id = '\(id)'")
        let calls = rig.mock.calls(.openAIChat)
        try rig.node.mustStart("--mode", "provider")
        #expect(await rig.node.awaitStatus { ($0["jobs_completed"] as? Int) == 1 })
        let job = try #require((try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])?.first { $0["id"] as? String == id })
        #expect(job["status"] as? String == "completed")
        #expect(job["result_event_id"] as? String == rig.customer.results(for: id).first?["id"] as? String)
        #expect(rig.mock.calls(.openAIChat) == calls, "not run again")
        #expect(rig.customer.results(for: id).count == 1)
    }

    @Test("NIP-89 handler information with a stable d tag and a k tag per kind, and a heartbeat that expires")
    func announcement() async throws {
        let rig = try await ProviderRig.start(provider: "kinds = [5050, 5002]\nname = \"test pylon\"\nabout = \"local models\"\n")
        let found = LockedBox<[String: String]?>(nil)
        _ = await awaitCondition(timeout: .seconds(15), interval: .milliseconds(300)) {
            let events = (try? await RelayQuery.events(rig.relay.url, filter: ["kinds": [31990], "authors": [rig.provider]])) ?? []
            guard let first = events.first, let data = try? JSONSerialization.data(withJSONObject: first) else { return false }
            found.set(["json": String(decoding: data, as: UTF8.self)])
            return true
        }
        let handler = try #require(found.value.flatMap { try? JSONSerialization.jsonObject(with: Data(($0["json"] ?? "").utf8)) as? [String: Any] })
        let handlerTags = handler["tags"] as? [[String]] ?? []
        #expect(handlerTags.filter { $0.first == "k" }.map { $0[1] }.sorted() == ["5002", "5050"])
        let d = try #require(handlerTags.first { $0.first == "d" }?[1])
        let content = try #require(try JSONSerialization.jsonObject(with: Data((handler["content"] as? String ?? "").utf8)) as? [String: Any])
        #expect(content["name"] as? String == "test pylon")
        #expect(content["about"] as? String == "local models")
        #expect(((content["nip90Params"] as? [String: Any])?["model"] as? [String: Any])?["values"] as? [String] == ["mock-model"])
        let heartbeat = try #require(try await RelayQuery.events(rig.relay.url, filter: ["kinds": [11998], "authors": [rig.provider]]).first)
        let expiration = try #require((heartbeat["tags"] as? [[String]])?.first { $0.first == "expiration" }.flatMap { Int64($0[1]) })
        #expect(expiration > Int64(Date().timeIntervalSince1970))

        // A reload that changes the name announces again, with the same d tag.
        try rig.node.writeConfig(
            relays: [rig.relay.url],
            extra: "[provider]\nrate_limit_per_minute = 0\nkinds = [5050, 5002]\nname = \"renamed pylon\"\n[backends]\npreference = [\"llamacpp\"]\nllamacpp_url = \"\(rig.mock.baseURL)\"\n")
        #expect(try rig.node.pylon("reload").status == 0)
        #expect(await awaitCondition(timeout: .seconds(10)) {
            let events = (try? await RelayQuery.events(rig.relay.url, filter: ["kinds": [31990], "authors": [rig.provider]])) ?? []
            return events.contains { ($0["content"] as? String ?? "").contains("renamed pylon") && ($0["tags"] as? [[String]] ?? []).contains(["d", d]) }
        })
    }

    @Test("translation (5002) uses the language param; event inputs are fetched; the relays tag gets the answers too")
    func kindsInputsAndRelays() async throws {
        let elsewhere = try await RelayProcess.start(.nostrRelay)
        defer { elsewhere.stop() }
        let rig = try await ProviderRig.start(provider: "kinds = [5050, 5002]\n")
        let translate = try await rig.customer.request(kind: 5002, inputs: [["hello there", "text"]], params: [["language", "es"]], provider: rig.provider)
        let result = try #require(await rig.customer.awaitResult(for: translate))
        #expect(result["kind"] as? Int == 6002)
        let messages = rig.mock.lastRequestJSON(.openAIChat)?["messages"] as? [[String: Any]] ?? []
        let system = messages.first?["content"] as? String
        #expect(system?.contains("Spanish") == true)

        // An event input: the text of a note on the relay.
        let note = try RelayQuery.publishNote(rig.relay.url, content: "the note to work on")
        let fromEvent = try await rig.customer.request(inputs: [[note, "event", rig.relay.url]], provider: rig.provider)
        let noteResult = try #require(await rig.customer.awaitResult(for: fromEvent))
        #expect(noteResult["content"] as? String == MockLLMServer.expectedText(prompt: "the note to work on", count: 8))
        let missing = try await rig.customer.request(inputs: [[String(repeating: "0", count: 64), "event"]], provider: rig.provider)
        #expect((try #require(await rig.customer.awaitStatus("error", for: missing))["extra"] as? String ?? "").contains("not found"))

        // A job input (chaining): waits for that job's result and works on it.
        let first = try await rig.customer.request(inputs: [["chain start", "text"]], params: [["max_tokens", "3"]], provider: rig.provider)
        let chained = try await rig.customer.request(inputs: [[first, "job"]], provider: rig.provider)
        let chainedResult = try #require(await rig.customer.awaitResult(for: chained))
        let firstOutput = MockLLMServer.expectedText(prompt: "chain start", count: 3)
        #expect(chainedResult["content"] as? String == MockLLMServer.expectedText(prompt: firstOutput, count: 8))

        // The request's relays tag: the result also goes to a relay pylon does not use.
        let tagged = try await rig.customer.request(inputs: [["answer elsewhere too", "text"]], provider: rig.provider, relays: [elsewhere.url])
        let answer = try #require(await rig.customer.awaitResult(for: tagged))
        #expect(await awaitCondition(timeout: .seconds(10)) {
            let found = (try? await RelayQuery.events(elsewhere.url, filter: ["ids": [answer["id"] as? String ?? ""]])) ?? []
            return !found.isEmpty
        })
    }

    @Test("an over-long output becomes an error, and the per-customer rate limit answers rate-limited")
    func limits() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.tokenCount = 20_000
        let rig = try await ProviderRig.start(provider: "rate_limit_per_minute = 2\n", behavior: behavior)
        let long = try await rig.customer.request(inputs: [["a rather long word list to repeat many many times", "text"]], provider: rig.provider)
        let error = try #require(await rig.customer.awaitStatus("error", for: long))
        #expect((error["extra"] as? String ?? "").contains("bytes"))
        #expect(rig.customer.results(for: long).isEmpty)
        let second = try await rig.customer.request(inputs: [["two", "text"]], params: [["max_tokens", "2"]], provider: rig.provider)
        #expect(await rig.customer.awaitResult(for: second) != nil)
        let third = try await rig.customer.request(inputs: [["three", "text"]], params: [["max_tokens", "2"]], provider: rig.provider)
        let limited = try #require(await rig.customer.awaitStatus("error", for: third))
        let message = limited["extra"] as? String ?? ""
        #expect(message.hasPrefix("rate-limited: this provider takes 2 requests a minute from one customer; try again in "), "\(message)")
        // The same window's next request is counted and dropped without an answer: a flood is
        // not amplified. Once the provider counted it, the error feedback it made is still the
        // two above (the long output, the first refusal).
        _ = try await rig.customer.request(inputs: [["four", "text"]], params: [["max_tokens", "2"]], provider: rig.provider)
        #expect(await awaitCondition(timeout: .seconds(10)) {
            (try? rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"rate_limited\"")) == 2
        })
        #expect(try rig.metric("pylon_provider_feedback_total", label: "status=\"error\"") == 2)
        let refusals = try rig.journal().filter { $0["kind"] as? String == "job.rejected" }
        #expect(refusals.compactMap { ($0["data"] as? [String: Any])?["id"] as? String } == [third])
    }

    @Test("a job's slot is free once its result is handed to the relays; the job counts as answered only once a relay accepts it")
    func slotFreedAtHandOff() async throws {
        // A relay that sits on each result (kind 6050) for 4 s before it accepts it.
        let rig = try await ProviderRig.start(
            provider: "max_concurrent_jobs = 1\n", relay: .slowRelay, relayOptions: .init(holdKinds: [6050], holdSeconds: 4))
        let first = try await rig.customer.request(inputs: [["first", "text"]], params: [["max_tokens", "2"]], provider: rig.provider)
        #expect(await awaitCondition(timeout: .seconds(10)) { rig.mock.streamsCompleted >= 1 })
        let second = try await rig.customer.request(inputs: [["second", "text"]], params: [["max_tokens", "2"]], provider: rig.provider)
        // With one slot, the second job reaches the backend while the relay still sits on the
        // first result: the slot did not wait for the relay's OK.
        #expect(await awaitCondition(timeout: .seconds(3)) { rig.mock.streamsStarted >= 2 })
        #expect(rig.customer.results(for: first).isEmpty, "the relay was still holding the first result")
        let held = try #require(try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])
        #expect(held.first { $0["id"] as? String == first }?["status"] as? String == "running", "not completed before a relay accepted the result")
        // Then both are answered in full, in the usual order.
        for id in [first, second] {
            #expect(await rig.customer.awaitResult(for: id, timeout: .seconds(15)) != nil)
            #expect(await rig.customer.awaitStatus("success", for: id, timeout: .seconds(15)) != nil)
            #expect(rig.customer.statuses(for: id).first == "processing")
        }
        let jobs = try #require(try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])
        #expect(jobs.filter { $0["status"] as? String == "completed" }.count == 2)
    }

    @Test("a job past its deadline fails with the limit named, and the backend request is aborted")
    func deadline() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(600)
        let rig = try await ProviderRig.start(provider: "job_timeout_secs = 1\n", behavior: behavior)
        let id = try await rig.customer.request(inputs: [["too slow", "text"]], provider: rig.provider)
        let error = try #require(await rig.customer.awaitStatus("error", for: id))
        #expect((error["extra"] as? String ?? "").contains("1 s"))
        #expect(rig.customer.results(for: id).isEmpty)
        #expect(await awaitCondition(timeout: .seconds(5)) { rig.mock.streamsAborted >= 1 })
        let job = try #require((try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])?.first)
        #expect(job["status"] as? String == "failed")
    }

    @Test("graceful stop answers a queued job honestly")
    func stopAnswersQueued() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(300)
        let rig = try await ProviderRig.start(provider: "max_concurrent_jobs = 1\n", behavior: behavior)
        let running = try await rig.customer.request(inputs: [["finish me", "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("processing", for: running) != nil)
        let queued = try await rig.customer.request(inputs: [["i wait", "text"]], provider: rig.provider)
        #expect(await rig.node.awaitStatus { ($0["queue"] as? [String: Any])?["queued"] as? Int == 1 })
        try await rig.node.mustCleanShutdown()
        #expect(await rig.customer.awaitResult(for: running) != nil, "the running job finished within the grace period")
        let error = try #require(await rig.customer.awaitStatus("error", for: queued))
        #expect((error["extra"] as? String ?? "").contains("shutting down"))
    }
}
