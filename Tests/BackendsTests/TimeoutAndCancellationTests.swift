import AsyncHTTPClient
import Backends
import PylonTestSupport
import Synchronization
import Testing

@Suite("Timeouts, unreachable servers and cancellation")
struct TimeoutAndCancellationTests {
    let prompt = "hello there"

    func fast(firstToken: Duration = .seconds(10), idle: Duration = .seconds(10), probe: Duration = .seconds(2)) -> BackendTimeouts {
        BackendTimeouts(connect: .seconds(2), firstToken: firstToken, idle: idle, total: .seconds(30), probe: probe)
    }

    @Test("no first token within the first-token timeout is a timeout, fast", arguments: [false, true])
    func firstTokenTimeout(hangs: Bool) async throws {
        try await withMockServer({ behavior in
            if hangs { behavior.hang = .beforeResponse } else { behavior.firstTokenDelay = .seconds(20) }
        }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: fast(firstToken: .milliseconds(300)))
                let start = ContinuousClock.now
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                let elapsed = ContinuousClock.now - start
                #expect(collected.error?.code == .timeout)
                #expect(collected.error?.message.contains("no output within 0.3 s") == true)
                #expect(elapsed < .seconds(3))
            }
        }
    }

    @Test("a stream that stalls mid-answer hits the idle timeout", arguments: [OpenAIBackend.Flavor.llamacpp, .openai])
    func idleTimeout(flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer({ $0.hang = .afterTokens(3) }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(
                    flavor: flavor,
                    baseURL: server.baseURL,
                    client: client,
                    timeouts: fast(idle: .milliseconds(300))
                )
                let start = ContinuousClock.now
                let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
                #expect(collected.tokens.count == 3)
                #expect(collected.error?.code == .timeout)
                #expect(collected.error?.message.contains("stopped sending output") == true)
                #expect(ContinuousClock.now - start < .seconds(3))
            }
        }
    }

    /// `afterFinal`: the server goes silent without ending the body (the drain's grace ends it);
    /// `chatterAfterFinal`: it keeps sending empty lines (cut off after 64 KB).
    @Test(
        "a server that does not end the body after its last message, silent or sending on, still gives the answer",
        arguments: [MockLLMServer.Hang.afterFinal, .chatterAfterFinal], [OpenAIBackend.Flavor.llamacpp, .openai])
    func noEndAfterDone(hang: MockLLMServer.Hang, flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer({ $0.hang = hang }) { server in
            try await withClient { client in
                let ollama = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: fast())
                let openAI = OpenAIBackend(flavor: flavor, baseURL: server.baseURL, client: client, timeouts: fast())
                for backend in [ollama, openAI] as [any InferenceBackend] {
                    let start = ContinuousClock.now
                    let result = try await backend.complete(InferenceRequest(prompt: prompt, model: "mock-model"))
                    #expect(result.text == MockLLMServer.expectedText(prompt: prompt, count: 8))
                    #expect(result.finishReason == .stop)
                    #expect(ContinuousClock.now - start < .seconds(3))
                }
                if hang == .chatterAfterFinal {
                    // Both streams were cut off by the reader: the server never got to end one.
                    #expect(await awaitCondition(timeout: .seconds(5)) { server.streamsAborted == 2 })
                    #expect(server.streamsCompleted == 0, "\(server.bytesAfterFinal) bytes sent after the answers")
                }
            }
        }
    }

    @Test("the request's deadline bounds the whole answer")
    func deadline() async throws {
        try await withMockServer({ behavior in
            behavior.tokenCount = 100
            behavior.perTokenDelay = .milliseconds(50)
        }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: fast())
                let request = InferenceRequest(prompt: prompt, model: "mock-model", deadline: .now + .milliseconds(400))
                let collected = await collect(backend.stream(request))
                #expect(collected.error?.code == .timeout)
                #expect(collected.error?.message.contains("deadline") == true)
                #expect(collected.tokens.count < 100)
            }
        }
    }

    @Test("a server that refuses connections is unreachable, at once")
    func unreachable() async throws {
        // A port that was free a moment ago and has nothing listening now.
        let server = MockLLMServer()
        try await server.start()
        let url = server.baseURL
        await server.stop()
        try await withClient { client in
            let backend = OllamaBackend(baseURL: url, client: client, timeouts: fast())
            let start = ContinuousClock.now
            let probe = await expectBackendError { try await backend.models() }
            #expect(probe?.code == .unreachable)
            let collected = await collect(backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")))
            #expect(collected.error?.code == .unreachable)
            #expect(collected.error?.message.contains(url) == true)
            #expect(ContinuousClock.now - start < .seconds(2))
        }
    }

    @Test("a probe that gets no answer times out", arguments: [MockLLMServer.Endpoint.ollamaTags, .health])
    func probeTimeout(endpoint: MockLLMServer.Endpoint) async throws {
        try await withMockServer({ $0.stalled = [endpoint] }) { server in
            try await withClient { client in
                let timeouts = fast(probe: .milliseconds(300))
                let backend: any InferenceBackend =
                    endpoint == .ollamaTags
                    ? OllamaBackend(baseURL: server.baseURL, client: client, timeouts: timeouts)
                    : OpenAIBackend(flavor: .llamacpp, baseURL: server.baseURL, client: client, timeouts: timeouts)
                let start = ContinuousClock.now
                let error = await expectBackendError { try await backend.models() }
                #expect(error?.code == .timeout)
                #expect(ContinuousClock.now - start < .seconds(3))
            }
        }
    }

    @Test("ending the iteration early aborts the server-side stream")
    func breakAborts() async throws {
        try await withMockServer({ behavior in
            behavior.tokenCount = 500
            behavior.perTokenDelay = .milliseconds(10)
        }) { server in
            try await withClient { client in
                let backend = OllamaBackend(baseURL: server.baseURL, client: client, timeouts: fast())
                var received = 0
                for try await event in backend.stream(InferenceRequest(prompt: prompt, model: "mock-model")) {
                    if case .token = event { received += 1 }
                    if received == 3 { break }
                }
                #expect(received == 3)
                await awaitCondition("the server saw the client go") { server.streamsAborted == 1 }
                #expect(server.streamsCompleted == 0)
                #expect(server.tokensSent < 500)
            }
        }
    }

    @Test("cancelling the task aborts the request with a cancelled error", arguments: [OpenAIBackend.Flavor.llamacpp, .openai])
    func taskCancellation(flavor: OpenAIBackend.Flavor) async throws {
        try await withMockServer({ behavior in
            behavior.tokenCount = 500
            behavior.perTokenDelay = .milliseconds(10)
        }) { server in
            try await withClient { client in
                let backend = OpenAIBackend(flavor: flavor, baseURL: server.baseURL, client: client, timeouts: fast())
                let tokens = TokenCounter()
                let outcome = await withTaskGroup(of: BackendError?.self) { group in
                    group.addTask {
                        do throws(BackendError) {
                            _ = try await backend.generate(InferenceRequest(prompt: prompt, model: "mock-model")) { _ in
                                tokens.increment()
                            }
                            return nil
                        } catch {
                            return error
                        }
                    }
                    await awaitCondition("some tokens arrived") { tokens.value >= 2 }
                    group.cancelAll()
                    return await group.next() ?? nil
                }
                #expect(outcome?.code == .cancelled)
                await awaitCondition("the server saw the client go") { server.streamsAborted == 1 }
                #expect(server.tokensSent < 500)
            }
        }
    }
}

final class TokenCounter: Sendable {
    private let count = Atomic(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
