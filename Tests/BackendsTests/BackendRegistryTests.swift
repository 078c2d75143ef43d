import Backends
import Logging
import Metrics
import MetricsTestKit
import PylonTestSupport
import ServiceLifecycle
import Testing

@Suite("Backend registry: detection, routing, live config, metrics")
struct BackendRegistryTests {
    func configuration(
        ollama: MockLLMServer? = nil,
        llamacpp: MockLLMServer? = nil,
        openai: MockLLMServer? = nil,
        preference: [String] = ["ollama", "llamacpp", "openai"],
        defaultModel: String = "",
        interval: Duration = .seconds(3600)
    ) -> BackendRegistry.Configuration {
        BackendRegistry.Configuration(
            preference: preference,
            ollamaURL: ollama?.baseURL ?? "",
            llamacppURL: llamacpp?.baseURL ?? "",
            openaiURL: openai.map { $0.baseURL + "/v1" } ?? "",
            defaultModel: defaultModel,
            detectionInterval: interval,
            timeouts: testTimeouts
        )
    }

    @Test("detection lists each backend's models and reports them up")
    func detects() async throws {
        try await withMockServer({ $0.models = ["llama3.2:latest"] }) { ollama in
            try await withMockServer({ $0.models = ["smollm2"] }) { llama in
                try await withRegistry(configuration(ollama: ollama, llamacpp: llama)) { registry in
                    let recorder = ChangeRecorder(registry.stateChanges)
                    // Before detection, nothing is ready, and a provider waiting for the first
                    // probe waits
                    #expect(await registry.status().map(\.detected) == [false, false])
                    #expect(await registry.isReady == false)
                    #expect(await registry.awaitFirstDetection(timeout: .milliseconds(50)) == false)

                    async let waiting = registry.awaitFirstDetection(timeout: .seconds(10))
                    let status = await registry.detectNow()
                    #expect(await waiting, "the first probe ends the wait")
                    #expect(status.map(\.name) == ["ollama", "llamacpp"])
                    #expect(status.map(\.state) == [.ready, .ready])
                    #expect(status.map(\.models) == [["llama3.2:latest"], ["smollm2"]])
                    #expect(status.map(\.url) == [ollama.baseURL, llama.baseURL])
                    #expect(await registry.isReady)
                    await awaitCondition("both went up") { recorder.changes.count == 2 }
                    #expect(Set(recorder.changes.map(\.backend)) == ["ollama", "llamacpp"])
                    #expect(recorder.changes.allSatisfy { $0.state == .ready && $0.reason == nil })
                }
            }
        }
    }

    @Test("Apple Foundation Models report unavailable on Linux")
    func appleFMOnLinux() async throws {
        #if os(Linux)
        try await withRegistry(BackendRegistry.Configuration(preference: ["apple_fm"], timeouts: testTimeouts)) { registry in
            let status = await registry.detectNow()
            #expect(status.count == 1)
            #expect(status.first?.name == "apple_fm")
            #expect(status.first?.state == .unavailable)
            #expect(status.first?.lastError == "Apple Foundation Models are unavailable on this platform")
            let error = await expectBackendError { try await registry.complete(InferenceRequest(prompt: "hi")) }
            #expect(error?.code == .unavailable)
        }
        #endif
    }

    @Test("disabled backends (no URL) and unknown names are left out")
    func disabledBackends() async throws {
        let configuration = BackendRegistry.Configuration(
            preference: ["ollama", "bogus", "openai", "llamacpp", "ollama"],
            ollamaURL: "http://127.0.0.1:1",
            llamacppURL: "",
            openaiURL: "",
            timeouts: testTimeouts
        )
        try await withRegistry(configuration) { registry in
            #expect(await registry.status().map(\.name) == ["ollama"])
        }
    }

    @Test("routing by model: the first ready backend in preference order that lists it")
    func routesByModel() async throws {
        try await withMockServer({ $0.models = ["shared", "only-ollama"] }) { ollama in
            try await withMockServer({ $0.models = ["only-llama", "shared"] }) { llama in
                try await withRegistry(configuration(ollama: ollama, llamacpp: llama, preference: ["llamacpp", "ollama"])) {
                    registry in
                    await registry.detectNow()
                    let onlyOllama = try registry.route(model: "only-ollama")
                    #expect(onlyOllama.backendName == "ollama")
                    #expect(onlyOllama.model == "only-ollama")
                    let shared = try registry.route(model: "shared")
                    #expect(shared.backendName == "llamacpp")
                    // No model: the first model of the first ready backend
                    let fallback = try registry.route()
                    #expect(fallback.backendName == "llamacpp")
                    #expect(fallback.model == "only-llama")
                    // A backend asked for by name
                    let named = try registry.route(model: "shared", backend: "ollama")
                    #expect(named.backendName == "ollama")

                    // The request reaches the right server with the routed model
                    let result = try await registry.complete(InferenceRequest(prompt: "a b", model: "only-ollama"))
                    #expect(result.backend == "ollama")
                    #expect(result.model == "only-ollama")
                    #expect(result.text == MockLLMServer.expectedText(prompt: "a b", count: 8))
                    #expect(ollama.calls(.ollamaChat) == 1)
                    #expect(llama.calls(.openAIChat) == 0)
                }
            }
        }
    }

    @Test("Ollama's implicit :latest tag matches")
    func latestTag() async throws {
        try await withMockServer({ $0.models = ["llama3.2:latest"] }) { ollama in
            try await withRegistry(configuration(ollama: ollama)) { registry in
                await registry.detectNow()
                let route = try registry.route(model: "llama3.2")
                #expect(route.model == "llama3.2:latest")
            }
        }
    }

    @Test("the default model is used when a request names none")
    func defaultModel() async throws {
        try await withMockServer({ $0.models = ["first", "second"] }) { ollama in
            try await withRegistry(configuration(ollama: ollama, defaultModel: "second")) { registry in
                await registry.detectNow()
                let noModel = try registry.route()
                let emptyModel = try registry.route(model: "")
                let named = try registry.route(model: "first")
                #expect(noModel.model == "second")
                #expect(emptyModel.model == "second")
                #expect(named.model == "first")
            }
        }
    }

    @Test("an unknown model is an error naming it and what is available; never a fallback")
    func unknownModel() async throws {
        try await withMockServer({ $0.models = ["alpha"] }) { ollama in
            try await withMockServer({ $0.models = ["beta"] }) { llama in
                try await withRegistry(configuration(ollama: ollama, llamacpp: llama)) { registry in
                    await registry.detectNow()
                    let error = await expectBackendError { try registry.route(model: "gamma") }
                    #expect(error?.code == .modelNotFound)
                    let message = error?.message ?? ""
                    #expect(message.contains("\"gamma\""))
                    #expect(message.contains("alpha (ollama)"))
                    #expect(message.contains("beta (llamacpp)"))
                    // Through the stream too, and no server got a chat
                    let collected = await collect(registry.stream(InferenceRequest(prompt: "x", model: "gamma")))
                    #expect(collected.error?.code == .modelNotFound)
                    #expect(ollama.calls(.ollamaChat) + llama.calls(.openAIChat) == 0)
                }
            }
        }
    }

    @Test("a default model no backend has is an error that says it is the default")
    func unknownDefaultModel() async throws {
        try await withMockServer { ollama in
            try await withRegistry(configuration(ollama: ollama, defaultModel: "missing")) { registry in
                await registry.detectNow()
                let error = await expectBackendError { try registry.route() }
                #expect(error?.code == .modelNotFound)
                #expect(error?.message.contains("default model") == true)
            }
        }
    }

    @Test("an unreachable preferred backend is skipped")
    func skipsUnreachable() async throws {
        let dead = MockLLMServer()
        try await dead.start()
        await dead.stop()
        try await withMockServer({ $0.models = ["smollm2"] }) { llama in
            try await withRegistry(configuration(ollama: dead, llamacpp: llama)) { registry in
                let status = await registry.detectNow()
                #expect(status.map(\.state) == [.unavailable, .ready])
                #expect(status.first?.lastErrorCode == .unreachable)
                let result = try await registry.complete(InferenceRequest(prompt: "hi"))
                #expect(result.backend == "llamacpp")
                #expect(result.model == "smollm2")
            }
        }
    }

    @Test("no ready backend is unavailable, with each one's reason")
    func noneReady() async throws {
        let dead = MockLLMServer()
        try await dead.start()
        await dead.stop()
        try await withRegistry(configuration(ollama: dead)) { registry in
            await registry.detectNow()
            let error = await expectBackendError { try registry.route(model: "x") }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("ollama: Could not reach Ollama") == true)
            let byName = await expectBackendError { try registry.route(backend: "llamacpp") }
            #expect(byName?.code == .unavailable)
            #expect(byName?.message.contains("No backend \"llamacpp\" is configured") == true)
        }
    }

    @Test("a backend going down and up is noticed by periodic detection")
    func downAndUp() async throws {
        try await withMockServer { ollama in
            try await withRegistry(configuration(ollama: ollama, interval: .milliseconds(100))) { registry in
                let recorder = ChangeRecorder(registry.stateChanges)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await registry.run() }

                    await awaitCondition("ollama is up") { recorder.changes.count == 1 }
                    #expect(recorder.changes.last?.state == .ready)
                    #expect(recorder.changes.last?.models == ["mock-model"])

                    // When the server stops answering
                    await ollama.stop()
                    await awaitCondition("ollama went down") { recorder.changes.count == 2 }
                    #expect(recorder.changes.last?.state == .unavailable)
                    #expect(recorder.changes.last?.errorCode == .unreachable)
                    #expect(await registry.status().first?.state == .unavailable)
                    #expect(await registry.status().first?.models == [])

                    // When it comes back
                    try await ollama.restart()
                    await awaitCondition("ollama came back") { recorder.changes.count == 3 }
                    #expect(recorder.changes.last?.state == .ready)
                    #expect(await registry.status().first?.state == .ready)
                    #expect(ollama.calls(.ollamaTags) >= 1)

                    group.cancelAll()
                }
            }
        }
    }

    @Test("a llama.cpp server that starts loading again goes down, then up")
    func healthFlaps() async throws {
        try await withMockServer { llama in
            try await withRegistry(configuration(llamacpp: llama)) { registry in
                let recorder = ChangeRecorder(registry.stateChanges)
                #expect(await registry.detectNow().first?.state == .ready)
                llama.update { $0.healthy = false }
                #expect(await registry.detectNow().first?.state == .unavailable)
                llama.update { $0.healthy = true }
                #expect(await registry.detectNow().first?.state == .ready)
                await awaitCondition("three changes") { recorder.changes.count == 3 }
                #expect(recorder.changes.map(\.state) == [.ready, .unavailable, .ready])
                #expect(recorder.changes[1].reason?.contains("loading") == true)
            }
        }
    }

    @Test("a failed call marks an unreachable backend down at once")
    func failedCallMarksDown() async throws {
        try await withMockServer { ollama in
            try await withRegistry(configuration(ollama: ollama)) { registry in
                let recorder = ChangeRecorder(registry.stateChanges)
                await registry.detectNow()
                let route = try registry.route(model: "mock-model")
                await ollama.stop()
                let collected = await collect(registry.stream(InferenceRequest(prompt: "hi"), on: route))
                #expect(collected.error?.code == .unreachable)
                // No detection ran in between (the interval is an hour)
                #expect(await registry.status().first?.state == .unavailable)
                await awaitCondition("the down event") { recorder.changes.count == 2 }
                #expect(recorder.changes.last?.state == .unavailable)
                let again = await expectBackendError { try registry.route(model: "mock-model") }
                #expect(again?.code == .unavailable)
            }
        }
    }

    @Test("update(configuration:) applies [backends] live")
    func liveUpdate() async throws {
        try await withMockServer({ $0.models = ["o"] }) { ollama in
            try await withMockServer({ $0.models = ["l"] }) { llama in
                try await withRegistry(configuration(ollama: ollama)) { registry in
                    let recorder = ChangeRecorder(registry.stateChanges)
                    await registry.detectNow()
                    let before = try registry.route()
                    #expect(before.backendName == "ollama")

                    // Add llama.cpp first in preference: detected at once, ollama keeps its state
                    await registry.update(
                        configuration: configuration(ollama: ollama, llamacpp: llama, preference: ["llamacpp", "ollama"])
                    )
                    #expect(await registry.status().map(\.state) == [.ready, .ready])
                    #expect(ollama.calls(.ollamaTags) == 1)
                    let after = try registry.route()
                    #expect(after.backendName == "llamacpp")

                    // Remove ollama: reported down
                    await registry.update(configuration: configuration(llamacpp: llama, preference: ["llamacpp"]))
                    #expect(await registry.status().map(\.name) == ["llamacpp"])
                    await awaitCondition("ollama reported down") {
                        recorder.changes(of: "ollama").last?.state == .unavailable
                    }
                    let error = await expectBackendError { try registry.route(model: "o") }
                    #expect(error?.code == .modelNotFound)
                    #expect(await registry.configuration.preference == ["llamacpp"])
                }
            }
        }
    }

    @Test("metrics: backend up, requests by outcome, tokens, first token")
    func metrics() async throws {
        let metrics = TestMetrics()
        try await withMockServer({ $0.tokenCount = 6 }) { ollama in
            try await withRegistry(configuration(ollama: ollama), metrics: metrics) { registry in
                await registry.detectNow()
                #expect(try metrics.expectGauge("pylon_backend_up", [("backend", "ollama")]).lastValue == 1)

                _ = try await registry.complete(InferenceRequest(prompt: "one two"))
                ollama.update { $0.failures[.ollamaChat] = 500 }
                _ = await expectBackendError { try await registry.complete(InferenceRequest(prompt: "one two")) }

                let ok = try metrics.expectCounter("pylon_backend_requests_total", [("backend", "ollama"), ("outcome", "ok")])
                #expect(ok.totalValue == 1)
                let failed = try metrics.expectCounter(
                    "pylon_backend_requests_total",
                    [("backend", "ollama"), ("outcome", "http_status")]
                )
                #expect(failed.totalValue == 1)
                #expect(try metrics.expectCounter("pylon_backend_tokens_total", [("backend", "ollama")]).totalValue == 6)
                #expect(try metrics.expectTimer("pylon_backend_first_token_seconds", [("backend", "ollama")]).values.count == 1)

                await ollama.stop()
                await registry.detectNow()
                #expect(try metrics.expectGauge("pylon_backend_up", [("backend", "ollama")]).lastValue == 0)
            }
        }
    }

    @Test("logs: constant messages with backend metadata; the API key never appears")
    func logs() async throws {
        let key = "sk-log-secret-42"
        let logs = TestLogs()
        try await withMockServer({ $0.requiredAPIKey = "another-key" }) { openai in
            try await withMockServer { ollama in
                let configuration = BackendRegistry.Configuration(
                    preference: ["ollama", "openai"],
                    ollamaURL: ollama.baseURL,
                    llamacppURL: "",
                    openaiURL: openai.baseURL,
                    openaiAPIKeyEnv: "PYLON_TEST_KEY",
                    timeouts: testTimeouts
                )
                try await withRegistry(configuration, environment: ["PYLON_TEST_KEY": key], logs: logs) { registry in
                    let status = await registry.detectNow()
                    #expect(status.map(\.state) == [.ready, .unavailable])
                    #expect(status.last?.lastErrorCode == .httpStatus)
                    #expect(openai.lastHeader("authorization", of: .openAIModels) == "Bearer \(key)")
                    _ = await expectBackendError {
                        try await registry.complete(InferenceRequest(prompt: "hi", model: "mock-model"), backend: "openai")
                    }
                    await ollama.stop()
                    await registry.detectNow()
                }
            }
        }
        let up = logs.records.filter { $0.message == "Backend up" }
        #expect(up.count == 1)
        #expect(up.first?.metadata["backend.name"] == "ollama")
        #expect(up.first?.level == .info)
        let down = logs.records.filter { $0.message == "Backend down" }
        #expect(Set(down.compactMap { $0.metadata["backend.name"] }) == ["openai", "ollama"])
        #expect(down.allSatisfy { $0.level == .warning && $0.metadata["error.code"] != nil })
        #expect(!logs.allText.contains(key))
    }

    @Test("run() ends on graceful shutdown and finishes the state changes")
    func service() async throws {
        try await withMockServer { ollama in
            let registry = BackendRegistry(configuration: configuration(ollama: ollama, interval: .milliseconds(50)))
            let recorder = ChangeRecorder(registry.stateChanges)
            let group = ServiceGroup(
                configuration: .init(services: [registry], gracefulShutdownSignals: [], logger: .init(label: "test"))
            )
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                await awaitCondition("ollama is up") { recorder.changes.count == 1 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            // The registry shut down its HTTP client: requests fail cleanly
            let error = await expectBackendError { try await registry.complete(InferenceRequest(prompt: "hi")) }
            #expect(error?.code == .unavailable)
        }
    }
}
