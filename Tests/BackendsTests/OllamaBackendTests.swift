import AsyncHTTPClient
import Backends
import PylonTestSupport
import Testing

@Suite("Ollama backend")
struct OllamaBackendTests {
    let prompt = "the quick brown fox"

    @Test("lists the models of /api/tags")
    func listsModels() async throws {
        try await withMockServer({ $0.models = ["llama3.2:latest", "qwen2.5:0.5b"] }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let models = try await backend.models()
                #expect(models == ["llama3.2:latest", "qwen2.5:0.5b"])
                #expect(server.calls(.ollamaTags) == 1)
            }
        }
    }

    @Test("streams tokens in order, then finished with the server's counts")
    func streams() async throws {
        try await withMockServer({ $0.tokenCount = 12 }) { server in
            try await withClient { client in
                // Given an Ollama backend
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                // When a request streams
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                // Then every token arrives in order and the finish event carries the counts
                #expect(collected.error == nil)
                #expect(collected.tokens == MockLLMServer.expectedTokens(prompt: prompt, count: 12))
                #expect(collected.finished == .finished(.stop, promptTokens: 4, completionTokens: 12))
                #expect(server.streamsCompleted == 1)
            }
        }
    }

    @Test("complete() collects the whole answer")
    func completes() async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                #expect(result.text == MockLLMServer.expectedText(prompt: prompt, count: 8))
                #expect(result.finishReason == .stop)
                #expect(result.completionTokens == 8)
                #expect(result.backend == "ollama")
                #expect(result.model == "mock-model")
                #expect(result.timeToFirstToken != nil)
            }
        }
    }

    @Test("reads a non-streamed answer when the server ignores stream: true")
    func nonStreamed() async throws {
        try await withMockServer({ $0.forceNonStreaming = true }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                #expect(result.text == MockLLMServer.expectedText(prompt: prompt, count: 8))
                #expect(result.completionTokens == 8)
                #expect(result.promptTokens == 4)
            }
        }
    }

    @Test("maps the job params onto Ollama's options")
    func mapsOptions() async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let request = InferenceRequest(
                    messages: [
                        ChatMessage(role: .system, content: "be brief"),
                        ChatMessage(role: .user, content: prompt),
                    ],
                    model: "mock-model",
                    sampling: Sampling(maxTokens: 5, temperature: 0.25, topP: 0.9, topK: 40, frequencyPenalty: 0.5, stop: ["\n\n", "END"])
                )
                let result = try await backend.complete(request)
                #expect(result.finishReason == .length)
                #expect(result.completionTokens == 5)

                let body = try #require(server.lastRequestJSON(.ollamaChat))
                #expect(body["model"] as? String == "mock-model")
                #expect(body["stream"] as? Bool == true)
                let messages = try #require(body["messages"] as? [[String: Any]])
                #expect(messages.map { $0["role"] as? String } == ["system", "user"])
                #expect(messages.map { $0["content"] as? String } == ["be brief", prompt])
                let options = try #require(body["options"] as? [String: Any])
                #expect(options["temperature"] as? Double == 0.25)
                #expect(options["top_p"] as? Double == 0.9)
                #expect(options["top_k"] as? Int == 40)
                #expect(options["num_predict"] as? Int == 5)
                #expect(options["stop"] as? [String] == ["\n\n", "END"])
                #expect(options["frequency_penalty"] as? Double == 0.5)
                #expect(options.count == 6)
            }
        }
    }

    @Test("leaves unset params out, so Ollama's defaults apply")
    func omitsUnsetOptions() async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                _ = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                let body = try #require(server.lastRequestJSON(.ollamaChat))
                #expect(body["options"] == nil)
            }
        }
    }

    @Test("an unknown model is modelNotFound")
    func unknownModel() async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let error = await expectBackendError { try await backend.complete(InferenceRequest(prompt: prompt, model: "nope")) }
                #expect(error?.code == .modelNotFound)
                #expect(error?.httpStatus == 404)
            }
        }
    }

    @Test("HTTP 500 is an httpStatus error naming the status")
    func serverError() async throws {
        try await withMockServer({ $0.failures[.ollamaChat] = 500 }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let error = await expectBackendError { try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model")) }
                #expect(error?.code == .httpStatus)
                #expect(error?.httpStatus == 500)
                #expect(error?.message.contains("HTTP 500") == true)
                #expect(error?.backend == "ollama")
            }
        }
    }

    @Test("a broken stream is badResponse", arguments: [
        MockLLMServer.Fault.malformedJSON, .truncateAfterTokens(3), .errorMidStream, .hugeLine(bytes: 8192),
    ])
    func brokenStream(fault: MockLLMServer.Fault) async throws {
        try await withMockServer({ $0.fault = fault }) { server in
            try await withClient { client in
                let backend = OllamaBackend(
                    baseURL: server.baseURL,
                    client: client,
                    timeouts: testTimeouts,
                    limits: BackendLimits(maxLineBytes: 4096)
                )
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                #expect(collected.error?.code == .badResponse)
                #expect(collected.finished == nil)
            }
        }
    }
}
