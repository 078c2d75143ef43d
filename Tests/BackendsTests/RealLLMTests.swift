import Backends
import Foundation
import Testing

/// Checks against a real OpenAI-compatible server (llama.cpp's `llama-server` or
/// `llama-cpp-python`'s server with SmolLM2-135M), run by `scripts/real-llm-check.sh`. Skipped
/// unless `PYLON_REAL_LLM_URL` is set; `PYLON_REAL_LLM_FLAVOR` is `llamacpp` (has `/health`) or
/// `openai` (default).
enum RealLLM {
    static let url = ProcessInfo.processInfo.environment["PYLON_REAL_LLM_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let flavor: OpenAIBackend.Flavor =
        ProcessInfo.processInfo.environment["PYLON_REAL_LLM_FLAVOR"] == "llamacpp" ? .llamacpp : .openai
}

@Suite("Real LLM server (scripts/real-llm-check.sh)", .enabled(if: RealLLM.url != nil), .serialized)
struct RealLLMTests {
    let timeouts = BackendTimeouts(connect: .seconds(5), firstToken: .seconds(60), idle: .seconds(30), total: .seconds(120), probe: .seconds(10))

    func configuration() -> BackendRegistry.Configuration {
        let url = RealLLM.url ?? ""
        return BackendRegistry.Configuration(
            preference: [RealLLM.flavor == .llamacpp ? "llamacpp" : "openai"],
            ollamaURL: "",
            llamacppURL: RealLLM.flavor == .llamacpp ? url : "",
            openaiURL: RealLLM.flavor == .openai ? url : "",
            timeouts: timeouts
        )
    }

    @Test("detection finds the server and its model")
    func detects() async throws {
        try await withRegistry(configuration()) { registry in
            let status = await registry.detectNow()
            #expect(status.first?.state == .ready, "\(status.first?.lastError ?? "")")
            #expect(status.first?.models.isEmpty == false)
        }
    }

    @Test("streams an answer with every param set")
    func streams() async throws {
        try await withRegistry(configuration()) { registry in
            await registry.detectNow()
            let request = InferenceRequest(
                messages: [
                    ChatMessage(role: .system, content: "You answer in one short sentence."),
                    ChatMessage(role: .user, content: "What is the capital of France?"),
                ],
                sampling: Sampling(maxTokens: 32, temperature: 0, topP: 0.9, topK: 40, frequencyPenalty: 0.1, stop: ["\n\n"])
            )
            let collected = await collect(registry.stream(request))
            #expect(collected.error == nil, "\(collected.error?.message ?? "")")
            #expect(!collected.text.isEmpty)
            print("real LLM answered: \(collected.text)")
            guard case .finished(_, _, let completionTokens) = collected.finished else {
                Issue.record("no finished event")
                return
            }
            #expect(completionTokens > 0)
            #expect(completionTokens <= 33)
        }
    }

    @Test("a token limit ends with finish reason length")
    func length() async throws {
        try await withRegistry(configuration()) { registry in
            await registry.detectNow()
            let result = try await registry.complete(InferenceRequest(prompt: "Count from 1 to 100.", sampling: Sampling(maxTokens: 5, temperature: 0)))
            #expect(result.finishReason == .length)
            #expect(result.completionTokens <= 6)
        }
    }

    @Test("an unknown model is modelNotFound before anything is sent")
    func unknownModel() async throws {
        try await withRegistry(configuration()) { registry in
            await registry.detectNow()
            let error = await expectBackendError { try registry.route(model: "no-such-model") }
            #expect(error?.code == .modelNotFound)
        }
    }

    @Test("stopping early cancels the generation")
    func cancels() async throws {
        try await withRegistry(configuration()) { registry in
            await registry.detectNow()
            var pieces = 0
            for try await event in registry.stream(InferenceRequest(prompt: "Write a long story about a lighthouse.", sampling: Sampling(maxTokens: 200))) {
                if case .token = event { pieces += 1 }
                if pieces == 3 { break }
            }
            #expect(pieces == 3)
            // The server is still usable afterwards.
            let result = try await registry.complete(InferenceRequest(prompt: "Say hi.", sampling: Sampling(maxTokens: 8, temperature: 0)))
            #expect(!result.text.isEmpty)
        }
    }
}
