import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An in-process LLM server for tests and benchmarks, speaking both Ollama's API (`/api/version`,
/// `/api/tags`, `/api/chat` NDJSON) and the OpenAI/llama.cpp API (`/health`, `/v1/models`,
/// `/v1/chat/completions` SSE), on 127.0.0.1 and a free port.
///
/// Output is deterministic: the words of the last user message, repeated up to `tokenCount` pieces
/// (see ``expectedTokens(prompt:count:)``). Faults are injected through ``Behavior``: delays, HTTP
/// errors, hangs, broken streams, a health check that fails. Every endpoint counts its calls and
/// keeps the last request body and headers, so tests can assert what a client sent.
///
/// ```swift
/// let server = MockLLMServer()
/// try await server.start()
/// defer { Task { await server.stop() } }   // or: await server.stop() at the end
/// ```
public final class MockLLMServer: Sendable {
    /// The endpoints the server answers.
    public enum Endpoint: String, Sendable, CaseIterable {
        case ollamaVersion = "/api/version"
        case ollamaTags = "/api/tags"
        case ollamaChat = "/api/chat"
        case health = "/health"
        case openAIModels = "/v1/models"
        case openAIChat = "/v1/chat/completions"
    }

    /// Where a chat request stops answering (until the server stops).
    public enum Hang: Sendable, Equatable {
        case none
        /// Never sends the response head.
        case beforeResponse
        /// Sends this many tokens, then stalls.
        case afterTokens(Int)
        /// Sends the whole answer, end marker included, but never ends the body.
        case afterFinal
        /// Sends the whole answer, then keeps sending empty lines (at most 256 MB) instead of ending.
        case chatterAfterFinal
    }

    /// A broken chat stream.
    public enum Fault: Sendable, Equatable {
        case none
        /// The first line of the stream is not JSON.
        case malformedJSON
        /// Ends the body cleanly after this many tokens, without the final "done" message.
        case truncateAfterTokens(Int)
        /// Sends a line of this many bytes (no line ending) instead of tokens.
        case hugeLine(bytes: Int)
        /// Sends one token, then the server's error message in the stream.
        case errorMidStream
        /// Sends one token, then ends as an interrupted llama-cpp-python request does: `[DONE]`
        /// with no finish reason (OpenAI dialect; Ollama's stream just ends).
        case interrupted
    }

    /// How the server behaves; change it any time with ``update(_:)``.
    public struct Behavior: Sendable {
        /// The models `/api/tags` and `/v1/models` list; a chat for another model gets a 404.
        public var models: [String] = ["mock-model"]
        /// Tokens per answer (fewer when the request limits them, and then the finish reason is
        /// `length`).
        public var tokenCount = 8
        public var firstTokenDelay: Duration = .zero
        public var perTokenDelay: Duration = .zero
        /// Endpoints that answer with this HTTP status (and an error body) instead.
        public var failures: [Endpoint: Int] = [:]
        public var hang: Hang = .none
        /// Endpoints that never answer (until the server stops), e.g. a probe that hangs.
        public var stalled: Set<Endpoint> = []
        public var fault: Fault = .none
        /// false: `/health` answers 503 "Loading model", like llama-server while it loads.
        public var healthy = true
        /// When set, the OpenAI endpoints want `Authorization: Bearer <key>` (401 otherwise).
        public var requiredAPIKey: String?
        /// Answers chats with one JSON body even when the client asked for a stream.
        public var forceNonStreaming = false
        /// Token counts in the answers (`usage`, `eval_count`).
        public var reportUsage = true

        public init() {}
    }

    private struct State {
        var behavior: Behavior
        var calls: [Endpoint: Int] = [:]
        var lastBodies: [Endpoint: Data] = [:]
        var lastHeaders: [Endpoint: [String: String]] = [:]
        var streamsStarted = 0
        var streamsCompleted = 0
        var streamsAborted = 0
        var tokensSent = 0
        var bytesAfterFinal = 0
    }

    private struct Running {
        let task: Task<Void, Never>
        let port: Int
    }

    /// Guards the behavior, the counters and the recorded requests.
    private let state: Mutex<State>
    /// Guards the server task; set while running.
    private let running = Mutex<Running?>(nil)
    /// The port of the last start, kept across stop so that `restart()` binds the same one.
    private let lastPort = Mutex(0)

    public init(behavior: Behavior = Behavior()) {
        self.state = Mutex(State(behavior: behavior))
    }

    // MARK: Life cycle

    /// Starts serving on 127.0.0.1; `port` 0 picks a free one. Returns once the server listens.
    public func start(port: Int = 0) async throws {
        guard running.withLock({ $0 == nil }) else { return }
        var logger = Logger(label: "pylon.test.mock-llm")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        // Owned by the server: `stop()` cancels it and waits for it.
        let task = Task {
            do {
                try await app.run()
            } catch {
                // A bind failure ends here; `start` sees no port and throws.
            }
            portContinuation.finish()
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            task.cancel()
            await task.value
            throw MockServerError(message: "the mock LLM server could not listen on 127.0.0.1:\(port)")
        }
        running.withLock { $0 = Running(task: task, port: bound) }
        lastPort.withLock { $0 = bound }
    }

    /// Stops serving: open connections are closed and new ones refused.
    public func stop() async {
        guard let current = running.withLock({ state -> Running? in
            defer { state = nil }
            return state
        }) else { return }
        current.task.cancel()
        await current.task.value
    }

    /// Starts again on the port of the last start.
    public func restart() async throws {
        try await start(port: lastPort.withLock { $0 })
    }

    /// The port (of the last start).
    public var port: Int { lastPort.withLock { $0 } }

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    // MARK: Behavior and records

    public func update(_ change: (inout Behavior) -> Void) {
        state.withLock { change(&$0.behavior) }
    }

    public var behavior: Behavior { state.withLock { $0.behavior } }

    /// How many requests the endpoint got.
    public func calls(_ endpoint: Endpoint) -> Int {
        state.withLock { $0.calls[endpoint] ?? 0 }
    }

    /// The last request body the endpoint got, parsed as a JSON object.
    public func lastRequestJSON(_ endpoint: Endpoint) -> [String: Any]? {
        guard let data = state.withLock({ $0.lastBodies[endpoint] }) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// A header of the last request the endpoint got (name in lower case).
    public func lastHeader(_ name: String, of endpoint: Endpoint) -> String? {
        state.withLock { $0.lastHeaders[endpoint]?[name.lowercased()] }
    }

    /// Chat streams begun, finished, and broken off by the client (a write failed or the handler
    /// was cancelled).
    public var streamsStarted: Int { state.withLock { $0.streamsStarted } }
    public var streamsCompleted: Int { state.withLock { $0.streamsCompleted } }
    public var streamsAborted: Int { state.withLock { $0.streamsAborted } }
    /// Tokens written, over all chats.
    public var tokensSent: Int { state.withLock { $0.tokensSent } }
    /// Bytes written after the end of an answer (``Hang/chatterAfterFinal``), over all chats.
    public var bytesAfterFinal: Int { state.withLock { $0.bytesAfterFinal } }

    /// The pieces an answer to `prompt` consists of: its words, cycled, the first without and the
    /// others with a leading space.
    public static func expectedTokens(prompt: String, count: Int) -> [String] {
        let words = prompt.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        let source = words.isEmpty ? ["token"] : words
        return (0..<max(count, 0)).map { index in
            let word = source[index % source.count]
            return index == 0 ? word : " " + word
        }
    }

    public static func expectedText(prompt: String, count: Int) -> String {
        expectedTokens(prompt: prompt, count: count).joined()
    }

    // MARK: Routes

    /// Records the request, then stalls if the endpoint is set to.
    private func answer(_ endpoint: Endpoint, _ request: Request, body: ByteBuffer?) async throws -> Behavior {
        let behavior = record(endpoint, request, body: body)
        if behavior.stalled.contains(endpoint) { try await Self.stall() }
        return behavior
    }

    private func record(_ endpoint: Endpoint, _ request: Request, body: ByteBuffer?) -> Behavior {
        var headers: [String: String] = [:]
        for field in request.headers {
            headers[field.name.canonicalName] = field.value
        }
        let data = body.map { Data($0.readableBytesView) }
        return state.withLock { state in
            state.calls[endpoint, default: 0] += 1
            state.lastHeaders[endpoint] = headers
            if let data { state.lastBodies[endpoint] = data }
            return state.behavior
        }
    }

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/api/version") { request, _ -> Response in
            let behavior = try await self.answer(.ollamaVersion, request, body: nil)
            if let status = behavior.failures[.ollamaVersion] { return Self.ollamaError(status, "mock failure") }
            return Self.json(#"{"version":"0.0.0-mock"}"#)
        }
        router.get("/api/tags") { request, _ -> Response in
            let behavior = try await self.answer(.ollamaTags, request, body: nil)
            if let status = behavior.failures[.ollamaTags] { return Self.ollamaError(status, "mock failure") }
            let models = behavior.models.map {
                #"{"name":\#(Self.quoted($0)),"model":\#(Self.quoted($0)),"size":1,"digest":"0"}"#
            }
            return Self.json(#"{"models":[\#(models.joined(separator: ","))]}"#)
        }
        router.post("/api/chat") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 22)
            let behavior = try await self.answer(.ollamaChat, request, body: body)
            return try await self.chat(body: body, behavior: behavior, dialect: .ollama)
        }
        router.get("/health") { request, _ -> Response in
            let behavior = try await self.answer(.health, request, body: nil)
            if let status = behavior.failures[.health] { return Self.openAIError(status, "mock failure") }
            guard behavior.healthy else { return Self.openAIError(503, "Loading model") }
            return Self.json(#"{"status":"ok"}"#)
        }
        router.get("/v1/models") { request, _ -> Response in
            let behavior = try await self.answer(.openAIModels, request, body: nil)
            if let status = behavior.failures[.openAIModels] { return Self.openAIError(status, "mock failure") }
            if let denied = Self.checkAPIKey(request, behavior) { return denied }
            let models = behavior.models.map {
                #"{"id":\#(Self.quoted($0)),"object":"model","created":0,"owned_by":"mock"}"#
            }
            return Self.json(#"{"object":"list","data":[\#(models.joined(separator: ","))]}"#)
        }
        router.post("/v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 22)
            let behavior = try await self.answer(.openAIChat, request, body: body)
            if let denied = Self.checkAPIKey(request, behavior) { return denied }
            return try await self.chat(body: body, behavior: behavior, dialect: .openAI)
        }
        return router
    }

    private enum Dialect {
        case ollama
        case openAI
    }

    private func chat(body: ByteBuffer, behavior: Behavior, dialect: Dialect) async throws -> Response {
        let endpoint: Endpoint = dialect == .ollama ? .ollamaChat : .openAIChat
        if let status = behavior.failures[endpoint] {
            return dialect == .ollama ? Self.ollamaError(status, "mock failure") : Self.openAIError(status, "mock failure")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] else {
            return dialect == .ollama ? Self.ollamaError(400, "invalid JSON") : Self.openAIError(400, "invalid JSON")
        }
        let model = object["model"] as? String ?? ""
        if dialect == .ollama || !model.isEmpty, !behavior.models.contains(model) {
            return dialect == .ollama
                ? Self.ollamaError(404, "model \"\(model)\" not found, try pulling it first")
                : Self.openAIError(404, "The model `\(model)` does not exist", code: "model_not_found")
        }
        let messages = object["messages"] as? [[String: Any]] ?? []
        let prompt = messages.last(where: { $0["role"] as? String == "user" })?["content"] as? String ?? ""
        let promptTokens = messages.reduce(0) { sum, message in
            sum + ((message["content"] as? String)?.split(separator: " ").count ?? 0)
        }
        let limit: Int?
        let wantsStream: Bool
        let wantsUsage: Bool
        switch dialect {
        case .ollama:
            limit = (object["options"] as? [String: Any])?["num_predict"] as? Int
            wantsStream = object["stream"] as? Bool ?? true
            wantsUsage = behavior.reportUsage
        case .openAI:
            limit = object["max_tokens"] as? Int
            wantsStream = object["stream"] as? Bool ?? false
            wantsUsage =
                behavior.reportUsage && ((object["stream_options"] as? [String: Any])?["include_usage"] as? Bool ?? false)
        }
        let count = min(behavior.tokenCount, limit.map { max($0, 0) } ?? Int.max)
        let finish = count < behavior.tokenCount ? "length" : "stop"
        let tokens = Self.expectedTokens(prompt: prompt, count: count)
        let answer = Answer(
            dialect: dialect,
            model: model,
            tokens: tokens,
            finish: finish,
            promptTokens: promptTokens,
            reportUsage: behavior.reportUsage
        )

        if behavior.hang == .beforeResponse { try await Self.stall() }

        guard wantsStream, !behavior.forceNonStreaming else {
            if behavior.firstTokenDelay > .zero { try await Task.sleep(for: behavior.firstTokenDelay) }
            state.withLock { $0.tokensSent += tokens.count }
            return Self.json(answer.whole())
        }
        let contentType = dialect == .ollama ? "application/x-ndjson" : "text/event-stream"
        return Response(
            status: .ok,
            headers: [.contentType: contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await self.write(answer, behavior: behavior, usage: wantsUsage, to: &writer)
            }
        )
    }

    private func write(
        _ answer: Answer,
        behavior: Behavior,
        usage: Bool,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        state.withLock { $0.streamsStarted += 1 }
        do {
            if answer.dialect == .openAI {
                try await writer.write(ByteBuffer(string: answer.roleChunk()))
            }
            for (index, token) in answer.tokens.enumerated() {
                let delay = index == 0 ? behavior.firstTokenDelay : behavior.perTokenDelay
                if delay > .zero { try await Task.sleep(for: delay) }
                if behavior.hang == .afterTokens(index) { try await Self.stall() }
                if behavior.fault == .truncateAfterTokens(index) || (behavior.fault == .interrupted && index == 1) {
                    if behavior.fault == .interrupted, answer.dialect == .openAI {
                        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    }
                    try await writer.finish(nil)
                    state.withLock { $0.streamsCompleted += 1 }
                    return
                }
                switch behavior.fault {
                case .malformedJSON where index == 0:
                    try await writer.write(ByteBuffer(string: answer.dialect == .ollama ? "{not json\n" : "data: {not json\n\n"))
                case .hugeLine(let bytes) where index == 0:
                    try await writer.write(ByteBuffer(repeating: UInt8(ascii: "x"), count: bytes))
                case .errorMidStream where index == 1:
                    try await writer.write(ByteBuffer(string: answer.errorLine()))
                default:
                    try await writer.write(ByteBuffer(string: answer.tokenLine(token)))
                    state.withLock { $0.tokensSent += 1 }
                }
            }
            if behavior.hang == .afterTokens(answer.tokens.count) { try await Self.stall() }
            try await writer.write(ByteBuffer(string: answer.finalLines(usage: usage)))
            if behavior.hang == .afterFinal { try await Self.stall() }
            if behavior.hang == .chatterAfterFinal {
                let lines = ByteBuffer(repeating: UInt8(ascii: "\n"), count: 16 * 1024)
                for _ in 0..<(256 * 1024 * 1024 / lines.readableBytes) {
                    try await writer.write(lines)
                    state.withLock { $0.bytesAfterFinal += lines.readableBytes }
                }
            }
            try await writer.finish(nil)
            state.withLock { $0.streamsCompleted += 1 }
        } catch {
            state.withLock { $0.streamsAborted += 1 }
            throw error
        }
    }

    /// Waits until the server stops (its task is cancelled), at most five minutes.
    private static func stall() async throws {
        try await Task.sleep(for: .seconds(300))
    }

    // MARK: Wire text

    private struct Answer {
        let dialect: Dialect
        let model: String
        let tokens: [String]
        let finish: String
        let promptTokens: Int
        let reportUsage: Bool

        var text: String { tokens.joined() }
        var quotedModel: String { MockLLMServer.quoted(model) }

        func roleChunk() -> String {
            #"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":0,"model":\#(quotedModel),"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#
                + "\n\n"
        }

        func tokenLine(_ token: String) -> String {
            let content = MockLLMServer.quoted(token)
            switch dialect {
            case .ollama:
                return #"{"model":\#(quotedModel),"created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":\#(content)},"done":false}"#
                    + "\n"
            case .openAI:
                return #"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":0,"model":\#(quotedModel),"choices":[{"index":0,"delta":{"content":\#(content)},"finish_reason":null}]}"#
                    + "\n\n"
            }
        }

        func errorLine() -> String {
            switch dialect {
            case .ollama: return #"{"error":"mock failure during generation"}"# + "\n"
            case .openAI: return #"error: {"code":500,"message":"mock failure during generation","type":"server_error"}"# + "\n\n"
            }
        }

        func finalLines(usage: Bool) -> String {
            switch dialect {
            case .ollama:
                let counts = reportUsage ? #","prompt_eval_count":\#(promptTokens),"eval_count":\#(tokens.count)"# : ""
                return #"{"model":\#(quotedModel),"created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"\#(finish)"\#(counts)}"#
                    + "\n"
            case .openAI:
                var lines =
                    #"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":0,"model":\#(quotedModel),"choices":[{"index":0,"delta":{},"finish_reason":"\#(finish)"}]}"#
                    + "\n\n"
                if usage {
                    lines +=
                        #"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":0,"model":\#(quotedModel),"choices":[],"usage":{"prompt_tokens":\#(promptTokens),"completion_tokens":\#(tokens.count),"total_tokens":\#(promptTokens + tokens.count)}}"#
                        + "\n\n"
                }
                return lines + "data: [DONE]\n\n"
            }
        }

        func whole() -> String {
            let content = MockLLMServer.quoted(text)
            switch dialect {
            case .ollama:
                let counts = reportUsage ? #","prompt_eval_count":\#(promptTokens),"eval_count":\#(tokens.count)"# : ""
                return #"{"model":\#(quotedModel),"created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":\#(content)},"done":true,"done_reason":"\#(finish)"\#(counts)}"#
            case .openAI:
                let usage =
                    reportUsage
                    ? #","usage":{"prompt_tokens":\#(promptTokens),"completion_tokens":\#(tokens.count),"total_tokens":\#(promptTokens + tokens.count)}"#
                    : ""
                return #"{"id":"chatcmpl-mock","object":"chat.completion","created":0,"model":\#(quotedModel),"choices":[{"index":0,"message":{"role":"assistant","content":\#(content)},"finish_reason":"\#(finish)"}]\#(usage)}"#
            }
        }
    }

    private static func checkAPIKey(_ request: Request, _ behavior: Behavior) -> Response? {
        guard let key = behavior.requiredAPIKey else { return nil }
        guard request.headers[.authorization] == "Bearer \(key)" else {
            return openAIError(401, "Incorrect API key provided", code: "invalid_api_key")
        }
        return nil
    }

    private static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    private static func ollamaError(_ status: Int, _ message: String) -> Response {
        json(#"{"error":\#(quoted(message))}"#, status: HTTPResponse.Status(code: status))
    }

    private static func openAIError(_ status: Int, _ message: String, code: String? = nil) -> Response {
        let codeField = code.map { quoted($0) } ?? "\(status)"
        return json(
            #"{"error":{"code":\#(codeField),"message":\#(quoted(message)),"type":"mock_error"}}"#,
            status: HTTPResponse.Status(code: status)
        )
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The mock server could not start.
public struct MockServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
