import AsyncHTTPClient
import Backends
import PylonTestSupport
import Testing

@Suite("OpenAI-compatible and llama.cpp backends")
struct OpenAIBackendTests {
    let prompt = "jumps over the lazy dog"

    @Test("llama.cpp: /health then /v1/models", arguments: [OpenAIBackend.Flavor.llamacpp, .openai])
    func listsModels(flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer({ $0.models = ["smollm2-135m", "other"] }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: flavor, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let models = try await backend.models()
                #expect(models == ["smollm2-135m", "other"])
                #expect(server.calls(.openAIModels) == 1)
                // Only llama.cpp has /health; OpenAI's API has none.
                #expect(server.calls(.health) == (flavor == .llamacpp ? 1 : 0))
            }
        }
    }

    @Test("llama.cpp still loading its model (503 on /health) is unavailable")
    func loading() async throws {
        try await withMockServer({ $0.healthy = false }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: .llamacpp, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let error = await expectBackendError { try await backend.models() }
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("loading") == true)
            }
        }
    }

    @Test("streams SSE tokens in order, with the usage counts", arguments: [OpenAIBackend.Flavor.llamacpp, .openai])
    func streams(flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer({ $0.tokenCount = 10 }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: flavor, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                #expect(collected.error == nil)
                #expect(collected.tokens == MockLLMServer.expectedTokens(prompt: prompt, count: 10))
                #expect(collected.finished == .finished(.stop, promptTokens: 5, completionTokens: 10))
            }
        }
    }

    @Test("without usage in the stream, the pieces are counted")
    func countsPieces() async throws {
        try await withMockServer({ $0.reportUsage = false }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: .llamacpp, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                #expect(result.completionTokens == 8)
                #expect(result.promptTokens == 0)
            }
        }
    }

    @Test("reads a non-streamed chat.completion body")
    func nonStreamed() async throws {
        try await withMockServer({ $0.forceNonStreaming = true }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: .openai, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model", sampling: Sampling(maxTokens: 3)))
                #expect(result.text == MockLLMServer.expectedText(prompt: prompt, count: 3))
                #expect(result.finishReason == .length)
                #expect(result.completionTokens == 3)
                #expect(result.promptTokens == 5)
            }
        }
    }

    @Test("maps the job params onto the chat body; top_k only for llama.cpp", arguments: [OpenAIBackend.Flavor.llamacpp, .openai])
    func mapsBody(flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: flavor, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let request = InferenceRequest(
                    prompt: prompt,
                    model: "mock-model",
                    sampling: Sampling(maxTokens: 4, temperature: 0.7, topP: 0.95, topK: 20, frequencyPenalty: 1.25, stop: ["###"])
                )
                let result = try await backend.complete(request)
                #expect(result.finishReason == .length)

                let body = try #require(server.lastRequestJSON(.openAIChat))
                #expect(body["model"] as? String == "mock-model")
                #expect(body["stream"] as? Bool == true)
                #expect((body["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
                #expect(body["max_tokens"] as? Int == 4)
                #expect(body["temperature"] as? Double == 0.7)
                #expect(body["top_p"] as? Double == 0.95)
                #expect(body["frequency_penalty"] as? Double == 1.25)
                #expect(body["stop"] as? [String] == ["###"])
                #expect((body["top_k"] as? Int) == (flavor == .llamacpp ? 20 : nil))
                let messages = try #require(body["messages"] as? [[String: Any]])
                #expect(messages.count == 1)
                #expect(messages.first?["role"] as? String == "user")
                #expect(messages.first?["content"] as? String == prompt)
                #expect(server.lastHeader("accept", of: .openAIChat) == "text/event-stream")
            }
        }
    }

    @Test("the base URL works with or without /v1 and trailing slashes", arguments: ["", "/", "/v1", "/v1/"])
    func v1Suffix(suffix: String) async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OpenAIBackend(
                    flavor: .llamacpp,
                    baseURL: server.baseURL + suffix,
                    client: client,
                    timeouts: testTimeouts
                )
                let models = try await backend.models()
                #expect(models == ["mock-model"])
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                #expect(result.completionTokens == 8)
                #expect(server.calls(.health) == 1)
                #expect(server.calls(.openAIChat) == 1)
            }
        }
    }

    @Test("an invalid base URL is unavailable, without a request")
    func invalidURL() async throws {
        try await withClient { client in
            let backend = OpenAIBackend(flavor: .openai, baseURL: "ftp://example", client: client, timeouts: testTimeouts)
            let error = await expectBackendError { try await backend.models() }
            #expect(error?.code == .unavailable)
        }
    }

    @Test("sends the API key from the environment variable the config names")
    func apiKey() async throws {
        let key = "sk-test-0123456789"
        try await withMockServer({ $0.requiredAPIKey = key }) { server in
            try await withClient { client in
                // Given the key in the named variable
                let backend = OpenAIBackend(
                    flavor: .openai,
                    baseURL: server.baseURL + "/v1",
                    client: client,
                    apiKeyEnv: "PYLON_TEST_KEY",
                    environment: ["PYLON_TEST_KEY": key, "OPENAI_API_KEY": "wrong"],
                    timeouts: testTimeouts
                )
                // Then probes and chats carry it as a bearer token
                let models = try await backend.models()
                #expect(models == ["mock-model"])
                let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                #expect(result.completionTokens == 8)
                #expect(server.lastHeader("authorization", of: .openAIChat) == "Bearer \(key)")
                #expect(server.lastHeader("authorization", of: .openAIModels) == "Bearer \(key)")
            }
        }
    }

    @Test("a missing API key is an httpStatus error naming the variable, never the key")
    func missingAPIKey() async throws {
        let key = "sk-secret-abcdef"
        try await withMockServer({ $0.requiredAPIKey = key }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(
                    flavor: .openai,
                    baseURL: server.baseURL,
                    client: client,
                    apiKeyEnv: "PYLON_TEST_KEY",
                    environment: [:],
                    timeouts: testTimeouts
                )
                let error = await expectBackendError { try await backend.models() }
                #expect(error?.code == .httpStatus)
                #expect(error?.httpStatus == 401)
                #expect(error?.message.contains("PYLON_TEST_KEY") == true)
                #expect(server.lastHeader("authorization", of: .openAIModels) == nil)

                let wrong = OpenAIBackend(
                    flavor: .openai,
                    baseURL: server.baseURL,
                    client: client,
                    apiKeyEnv: "PYLON_TEST_KEY",
                    environment: ["PYLON_TEST_KEY": "sk-wrong-key"],
                    timeouts: testTimeouts
                )
                let denied = await expectBackendError { try await wrong.complete(InferenceRequest(prompt: prompt, model: "mock-model")) }
                #expect(denied?.httpStatus == 401)
                #expect(denied?.message.contains("sk-wrong-key") == false)
                #expect("\(String(describing: denied))".contains("sk-wrong-key") == false)
            }
        }
    }

    @Test("an unknown model is modelNotFound")
    func unknownModel() async throws {
        try await withMockServer { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: .llamacpp, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let error = await expectBackendError { try await backend.complete(InferenceRequest(prompt: prompt, model: "gpt-9")) }
                #expect(error?.code == .modelNotFound)
            }
        }
    }

    @Test("HTTP 500 is an httpStatus error")
    func serverError() async throws {
        try await withMockServer({ $0.failures[.openAIChat] = 500 }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: .llamacpp, baseURL: server.baseURL, client: client, timeouts: testTimeouts)
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                #expect(collected.error?.code == .httpStatus)
                #expect(collected.error?.httpStatus == 500)
                #expect(collected.tokens.isEmpty)
            }
        }
    }

    @Test("a broken stream is badResponse", arguments: [
        MockLLMServer.Fault.malformedJSON, .truncateAfterTokens(2), .errorMidStream, .hugeLine(bytes: 8192), .interrupted,
    ])
    func brokenStream(fault: MockLLMServer.Fault) async throws {
        try await withMockServer({ $0.fault = fault }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(
                    flavor: .llamacpp,
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
