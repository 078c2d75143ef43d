public import AsyncHTTPClient
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The OpenAI chat API as llama.cpp's `llama-server` and other OpenAI-compatible servers speak it:
/// `GET /v1/models`, `POST /v1/chat/completions` streaming server-sent events (`data: {chunk}`,
/// then `data: [DONE]`).
///
/// Two flavours: `llamacpp` also checks `GET /health` (503 while the model loads) and sends
/// `top_k`, which llama-server understands; `openai` sends the API key from the configured
/// environment variable and leaves `top_k` out, since OpenAI's API rejects unknown fields.
public struct OpenAIBackend: InferenceBackend {
    public enum Flavor: Sendable {
        case llamacpp
        case openai
    }

    public let name: String
    public let baseURL: String
    public let flavor: Flavor
    let transport: HTTPTransport
    let chat: HTTPTransport.Endpoint
    let apiKey: APIKey?
    let apiKeyEnv: String?

    /// - Parameters:
    ///   - baseURL: The server's base URL, with or without a trailing `/v1`.
    ///   - apiKeyEnv: For `openai`: the environment variable holding the API key.
    ///   - environment: Where to read it; `nil` reads the process environment.
    public init(
        flavor: Flavor,
        baseURL: String,
        client: HTTPClient,
        apiKeyEnv: String? = nil,
        environment: [String: String]? = nil,
        timeouts: BackendTimeouts = BackendTimeouts(),
        limits: BackendLimits = BackendLimits()
    ) {
        self.flavor = flavor
        self.name = flavor == .llamacpp ? BackendName.llamacpp : BackendName.openai
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let apiKeyEnv, !apiKeyEnv.isEmpty, let value = environment[apiKeyEnv], !value.isEmpty {
            self.apiKey = APIKey(value)
        } else {
            self.apiKey = nil
        }
        self.transport = HTTPTransport(
            client: client,
            backend: name,
            serverName: flavor == .llamacpp ? "the llama.cpp server" : "the OpenAI-compatible server",
            root: ServerURL.root(baseURL, stripV1: true),
            configuredURL: baseURL,
            timeouts: timeouts,
            limits: limits
        )
        self.chat = transport.endpoint("/v1/chat/completions")
    }

    private var authHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        if let apiKey { headers.add(name: "authorization", value: "Bearer \(apiKey.value)") }
        return headers
    }

    public func models() async throws(BackendError) -> [String] {
        let transport = self.transport
        let apiKeyEnv = self.apiKeyEnv
        if flavor == .llamacpp {
            _ = try await transport.get("/health", headers: authHeaders) { status, body in
                if status.code == 503 {
                    return BackendError(
                        .unavailable,
                        "The llama.cpp server at \(transport.configuredURL) is still loading its model.",
                        backend: transport.backend,
                        httpStatus: 503
                    )
                }
                return transport.statusError(status, body: body, path: "/health")
            }
        }
        let list = try await transport.getJSON("/v1/models", as: OpenAIWire.ModelList.self, headers: authHeaders) {
            status, body in
            transport.statusError(status, body: body, path: "/v1/models", apiKeyEnv: apiKeyEnv)
        }
        return list.data.map(\.id)
    }

    public func generate(
        _ request: InferenceRequest,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        var headers = authHeaders
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "text/event-stream")
        headers.add(name: "user-agent", value: "pylon")
        let http = try transport.post(
            chat, headers: headers, body: OpenAIWire.ChatRequest(request, includeTopK: flavor == .llamacpp).encoded())
        let transport = self.transport
        let apiKeyEnv = self.apiKeyEnv
        return try await transport.stream(
            http,
            deadline: request.deadline,
            decoder: { headers in
                let contentType = headers.first(name: "content-type")?.lowercased() ?? ""
                return OpenAIChatDecoder(transport: transport, isEventStream: contentType.hasPrefix("text/event-stream"))
            },
            classify: { status, body in
                transport.statusError(status, body: body, path: "/v1/chat/completions", apiKeyEnv: apiKeyEnv)
            },
            onToken: onToken
        )
    }
}

/// An API key: prints as `<redacted>` so it cannot reach a log by accident.
struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String

    init(_ value: String) {
        self.value = value
    }

    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }
}

/// The OpenAI chat JSON shapes, only the fields pylon reads or sends.
enum OpenAIWire {
    struct ModelList: Decodable, Sendable {
        struct Model: Decodable, Sendable {
            let id: String
        }
        let data: [Model]
    }

    /// `POST /v1/chat/completions`, streamed, with the usage in the last chunk.
    struct ChatRequest {
        let model: String?
        let messages: [ChatMessage]
        let maxTokens: Int?
        let temperature: Double?
        let topP: Double?
        let topK: Int?
        let frequencyPenalty: Double?
        let stop: [String]?

        init(_ request: InferenceRequest, includeTopK: Bool) {
            self.model = request.model.flatMap { $0.isEmpty ? nil : $0 }
            self.messages = request.messages
            self.maxTokens = request.maxTokens
            self.temperature = request.temperature
            self.topP = request.topP
            self.topK = includeTopK ? request.topK : nil
            self.frequencyPenalty = request.frequencyPenalty
            self.stop = request.stop.isEmpty ? nil : request.stop
        }

        func encoded() -> ByteBuffer {
            JSONBody.object(capacity: 256 + messages.reduce(0) { $0 + $1.content.utf8.count }) { body in
                body.member("model", model)
                body.member("messages", messages: messages)
                body.member("stream", true)
                body.member("stream_options") { options in options.member("include_usage", true) }
                body.member("max_tokens", maxTokens)
                body.member("temperature", temperature)
                body.member("top_p", topP)
                body.member("top_k", topK)
                body.member("frequency_penalty", frequencyPenalty)
                body.member("stop", strings: stop)
            }
        }
    }

    struct Usage: Decodable, Equatable {
        let promptTokens: Int?
        let completionTokens: Int?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }
    }

    /// One `chat.completion.chunk` of the stream, or a whole non-streamed `chat.completion`.
    struct Chunk: Decodable, Equatable {
        struct Choice: Decodable, Equatable {
            struct Content: Decodable, Equatable {
                let content: String?
            }
            let delta: Content?
            let message: Content?
            let finishReason: String?
            enum CodingKeys: String, CodingKey {
                case delta, message
                case finishReason = "finish_reason"
            }
        }
        let choices: [Choice]?
        let usage: Usage?
        let error: ErrorObject?

        /// Reads a chunk with ``JSONScanner``; nil when it cannot (then `JSONDecoder` decides).
        static func scan(_ data: ByteBuffer) -> Chunk? {
            data.withUnsafeReadableBytes { bytes in
                var scanner = JSONScanner(bytes)
                var choices: [Choice]?
                var usage: Usage?
                var error: ErrorObject?
                let read = scanner.object { scanner, key in
                    if key == "choices" {
                        if scanner.null() {
                            choices = nil
                            return true
                        }
                        var list: [Choice] = []
                        guard
                            scanner.array({ scanner in
                                guard let choice = scanChoice(&scanner) else { return false }
                                list.append(choice)
                                return true
                            })
                        else { return false }
                        choices = list
                        return true
                    }
                    if key == "usage" {
                        if scanner.null() {
                            usage = nil
                            return true
                        }
                        var prompt: Int?
                        var completion: Int?
                        guard
                            scanner.object({ scanner, key in
                                if key == "prompt_tokens" { return scanner.optionalInt(&prompt) }
                                if key == "completion_tokens" { return scanner.optionalInt(&completion) }
                                return scanner.skipValue()
                            })
                        else { return false }
                        usage = Usage(promptTokens: prompt, completionTokens: completion)
                        return true
                    }
                    if key == "error" {
                        if scanner.null() {
                            error = nil
                            return true
                        }
                        var text: String?
                        if scanner.optionalString(&text) {
                            error = ErrorObject(message: text)
                            return true
                        }
                        var message: String?
                        guard
                            scanner.object({ scanner, key in
                                key == "message" ? scanner.optionalString(&message) : scanner.skipValue()
                            })
                        else { return false }
                        error = ErrorObject(message: message)
                        return true
                    }
                    return scanner.skipValue()
                }
                guard read, scanner.atEnd() else { return nil }
                return Chunk(choices: choices, usage: usage, error: error)
            }
        }

        private static func scanChoice(_ scanner: inout JSONScanner) -> Choice? {
            var delta: Choice.Content?
            var message: Choice.Content?
            var finishReason: String?
            func content(_ scanner: inout JSONScanner, into value: inout Choice.Content?) -> Bool {
                if scanner.null() {
                    value = nil
                    return true
                }
                var text: String?
                guard
                    scanner.object({ scanner, key in
                        key == "content" ? scanner.optionalString(&text) : scanner.skipValue()
                    })
                else { return false }
                value = Choice.Content(content: text)
                return true
            }
            let read = scanner.object { scanner, key in
                if key == "delta" { return content(&scanner, into: &delta) }
                if key == "message" { return content(&scanner, into: &message) }
                if key == "finish_reason" { return scanner.optionalString(&finishReason) }
                return scanner.skipValue()
            }
            return read ? Choice(delta: delta, message: message, finishReason: finishReason) : nil
        }
    }

    struct ErrorObject: Decodable, Equatable {
        let message: String?

        init(message: String?) {
            self.message = message
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                message = text
            } else {
                message = try container.decode(Message.self).message
            }
        }
        private struct Message: Decodable { let message: String? }
    }
}

/// Reads an OpenAI chat answer: server-sent events when the server streams (the normal case), or
/// one JSON body when it ignored `"stream": true`.
struct OpenAIChatDecoder: ChatStreamDecoder {
    let transport: HTTPTransport
    let isEventStream: Bool
    private let json = JSONDecoder()
    private(set) var isDone = false
    var isComplete: Bool { isDone && sawFinish }
    private(set) var finishReason = FinishReason.stop
    private(set) var promptTokens: Int?
    private(set) var completionTokens: Int?
    /// A `finish_reason` arrived: the answer is complete even if `[DONE]` never comes.
    private var sawFinish = false
    /// The data of the event being read; usually one line, kept as a slice of the chunk.
    private var eventData: ByteBuffer?
    /// The event is llama.cpp's `error:` line or an `event: error`.
    private var eventIsError = false
    /// The body of a non-streamed answer.
    private var body = ByteBuffer()

    init(transport: HTTPTransport, isEventStream: Bool) {
        self.transport = transport
        self.isEventStream = isEventStream
    }

    mutating func decode(line: ByteBuffer) throws(BackendError) -> String? {
        guard isEventStream else {
            guard body.readableBytes + line.readableBytes < transport.limits.maxLineBytes else {
                throw BackendError(
                    .badResponse,
                    "\(transport.serverName) at \(transport.configuredURL) sent an answer larger than \(transport.limits.maxLineBytes) bytes.",
                    backend: transport.backend
                )
            }
            var line = line
            body.writeBuffer(&line)
            body.writeInteger(UInt8(ascii: "\n"))
            return nil
        }
        // Server-sent events (WHATWG HTML §9.2): fields until a blank line dispatches the event.
        if line.readableBytes == 0 { return try dispatch() }
        var line = line
        if line.hasPrefix("data:") {
            line.moveReaderIndex(forwardBy: 5)
            if line.readableBytesView.first == UInt8(ascii: " ") { line.moveReaderIndex(forwardBy: 1) }
            if eventData == nil {
                eventData = line
            } else {
                eventData?.writeInteger(UInt8(ascii: "\n"))
                eventData?.writeBuffer(&line)
            }
            if let size = eventData?.readableBytes, size > transport.limits.maxLineBytes {
                throw BackendError(
                    .badResponse,
                    "\(transport.serverName) at \(transport.configuredURL) sent an event larger than \(transport.limits.maxLineBytes) bytes.",
                    backend: transport.backend
                )
            }
        } else if line.hasPrefix("error:") {
            // llama-server reports a failure mid-stream as `error: {json}`.
            line.moveReaderIndex(forwardBy: 6)
            throw streamError(line)
        } else if line.hasPrefix("event:") {
            line.moveReaderIndex(forwardBy: 6)
            eventIsError = String(buffer: line).trimmingWhitespace() == "error"
        }
        // Comments (":…"), `id:`, `retry:` and unknown fields are ignored.
        return nil
    }

    private mutating func dispatch() throws(BackendError) -> String? {
        guard let data = eventData else { return nil }
        eventData = nil
        if eventIsError { throw streamError(data) }
        if data.readableBytes == 6, data.hasPrefix("[DONE]") {
            isDone = true
            return nil
        }
        if data.isBlank { return nil }
        return try apply(data)
    }

    /// Applies one chunk (or a whole answer); returns its text.
    private mutating func apply(_ data: ByteBuffer) throws(BackendError) -> String? {
        let chunk: OpenAIWire.Chunk
        do {
            chunk = try OpenAIWire.Chunk.scan(data) ?? json.decode(OpenAIWire.Chunk.self, from: data)
        } catch {
            throw BackendError(
                .badResponse,
                "\(transport.serverName) at \(transport.configuredURL) sent a chat chunk that is not valid JSON; check that the URL points at an OpenAI-compatible server.",
                backend: transport.backend,
                cause: error
            )
        }
        if let error = chunk.error {
            let detail = error.message.flatMap(ServerErrorBody.sanitize) ?? "no details"
            throw BackendError(
                .badResponse,
                "\(transport.serverName) at \(transport.configuredURL) reported an error during generation: \(detail)",
                backend: transport.backend
            )
        }
        if let usage = chunk.usage {
            promptTokens = usage.promptTokens ?? promptTokens
            completionTokens = usage.completionTokens ?? completionTokens
        }
        guard let choice = chunk.choices?.first else { return nil }
        if let reason = choice.finishReason {
            sawFinish = true
            finishReason = FinishReason(serverValue: reason)
        }
        return choice.delta?.content ?? choice.message?.content
    }

    private func streamError(_ data: ByteBuffer) -> BackendError {
        let detail = ServerErrorBody.message(in: data) ?? ServerErrorBody.sanitize(String(buffer: data)) ?? "no details"
        return BackendError(
            .badResponse,
            "\(transport.serverName) at \(transport.configuredURL) reported an error during generation: \(detail)",
            backend: transport.backend
        )
    }

    mutating func end() throws(BackendError) -> String? {
        guard isEventStream else {
            guard !body.isBlank else {
                throw BackendError(
                    .badResponse,
                    "\(transport.serverName) at \(transport.configuredURL) answered with an empty body.",
                    backend: transport.backend
                )
            }
            let text = try apply(body)
            isDone = true
            return text
        }
        // A last event without the blank line after it.
        let text = isDone ? nil : try dispatch()
        // Without a finish reason the answer was cut short, even if `[DONE]` came
        // (llama-cpp-python sends it when a newer request interrupts this one).
        guard sawFinish else {
            throw BackendError(
                .badResponse,
                "\(transport.serverName) at \(transport.configuredURL) ended the stream before the answer was complete; check its log.",
                backend: transport.backend
            )
        }
        return text
    }
}
