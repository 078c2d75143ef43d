public import AsyncHTTPClient
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Ollama's own API: `GET /api/tags` lists the models, `POST /api/chat` streams NDJSON, one JSON
/// object per line, the last one with `"done": true` and the token counts.
public struct OllamaBackend: InferenceBackend {
    public let name = BackendName.ollama
    public let baseURL: String
    let transport: HTTPTransport
    let chat: HTTPTransport.Endpoint

    /// - Parameters:
    ///   - baseURL: Ollama's base URL, e.g. `http://127.0.0.1:11434`.
    ///   - client: The HTTP client to use (shared; not shut down here).
    public init(
        baseURL: String,
        client: HTTPClient,
        timeouts: BackendTimeouts = BackendTimeouts(),
        limits: BackendLimits = BackendLimits()
    ) {
        self.baseURL = baseURL
        self.transport = HTTPTransport(
            client: client,
            backend: BackendName.ollama,
            serverName: "Ollama",
            root: ServerURL.root(baseURL, stripV1: false),
            configuredURL: baseURL,
            timeouts: timeouts,
            limits: limits
        )
        self.chat = transport.endpoint("/api/chat")
    }

    public func models() async throws(BackendError) -> [String] {
        let transport = self.transport
        let tags = try await transport.getJSON("/api/tags", as: OllamaWire.Tags.self) { status, body in
            transport.statusError(status, body: body, path: "/api/tags")
        }
        return tags.models.map(\.name)
    }

    public func generate(
        _ request: InferenceRequest,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        guard let model = request.model, !model.isEmpty else {
            throw BackendError(.modelNotFound, "A request to Ollama must name a model.", backend: name)
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "application/x-ndjson")
        headers.add(name: "user-agent", value: "pylon")
        let http = try transport.post(chat, headers: headers, body: OllamaWire.ChatRequest(request, model: model).encoded())
        let transport = self.transport
        return try await transport.stream(
            http,
            deadline: request.deadline,
            decoder: { _ in OllamaChatDecoder(transport: transport) },
            classify: { status, body in transport.statusError(status, body: body, path: "/api/chat") },
            onToken: onToken
        )
    }
}

/// Ollama's JSON shapes, only the fields pylon reads or sends.
enum OllamaWire {
    struct Tags: Decodable, Sendable {
        struct Model: Decodable, Sendable {
            let name: String
        }
        let models: [Model]
    }

    /// `POST /api/chat`. Sampling parameters go in `options` under Ollama's names.
    struct ChatRequest {
        struct Options: Equatable {
            var temperature: Double?
            var topP: Double?
            var topK: Int?
            var numPredict: Int?
            var stop: [String]?
            var frequencyPenalty: Double?
        }

        let model: String
        let messages: [ChatMessage]
        let options: Options?

        init(_ request: InferenceRequest, model: String) {
            self.model = model
            self.messages = request.messages
            let options = Options(
                temperature: request.temperature,
                topP: request.topP,
                topK: request.topK,
                numPredict: request.maxTokens,
                stop: request.stop.isEmpty ? nil : request.stop,
                frequencyPenalty: request.frequencyPenalty
            )
            self.options = options == Options() ? nil : options
        }

        func encoded() -> ByteBuffer {
            JSONBody.object(capacity: 256 + messages.reduce(0) { $0 + $1.content.utf8.count }) { body in
                body.member("model", model)
                body.member("messages", messages: messages)
                body.member("stream", true)
                if let options {
                    body.member("options") { fields in
                        fields.member("temperature", options.temperature)
                        fields.member("top_p", options.topP)
                        fields.member("top_k", options.topK)
                        fields.member("num_predict", options.numPredict)
                        fields.member("stop", strings: options.stop)
                        fields.member("frequency_penalty", options.frequencyPenalty)
                    }
                }
            }
        }
    }

    /// One line of the `/api/chat` stream (or the whole non-streamed answer).
    struct ChatChunk: Decodable, Equatable {
        struct Message: Decodable, Equatable {
            let content: String?
        }
        let message: Message?
        let done: Bool?
        let doneReason: String?
        let promptEvalCount: Int?
        let evalCount: Int?
        let error: String?

        enum CodingKeys: String, CodingKey {
            case message, done, error
            case doneReason = "done_reason"
            case promptEvalCount = "prompt_eval_count"
            case evalCount = "eval_count"
        }

        /// Reads a line with ``JSONScanner``; nil when it cannot (then `JSONDecoder` decides).
        static func scan(_ line: ByteBuffer) -> ChatChunk? {
            line.withUnsafeReadableBytes { bytes in
                var scanner = JSONScanner(bytes)
                var message: Message?
                var done: Bool?
                var doneReason: String?
                var promptEvalCount: Int?
                var evalCount: Int?
                var error: String?
                let read = scanner.object { scanner, key in
                    if key == "message" {
                        if scanner.null() {
                            message = nil
                            return true
                        }
                        var content: String?
                        guard
                            scanner.object({ scanner, key in
                                key == "content" ? scanner.optionalString(&content) : scanner.skipValue()
                            })
                        else { return false }
                        message = Message(content: content)
                        return true
                    }
                    if key == "done" { return scanner.optionalBool(&done) }
                    if key == "done_reason" { return scanner.optionalString(&doneReason) }
                    if key == "prompt_eval_count" { return scanner.optionalInt(&promptEvalCount) }
                    if key == "eval_count" { return scanner.optionalInt(&evalCount) }
                    if key == "error" { return scanner.optionalString(&error) }
                    return scanner.skipValue()
                }
                guard read, scanner.atEnd() else { return nil }
                return ChatChunk(
                    message: message,
                    done: done,
                    doneReason: doneReason,
                    promptEvalCount: promptEvalCount,
                    evalCount: evalCount,
                    error: error
                )
            }
        }
    }
}

/// Reads Ollama's NDJSON chat stream.
struct OllamaChatDecoder: ChatStreamDecoder {
    let transport: HTTPTransport
    private let json = JSONDecoder()
    private(set) var isDone = false
    var isComplete: Bool { isDone }
    private(set) var finishReason = FinishReason.stop
    private(set) var promptTokens: Int?
    private(set) var completionTokens: Int?

    init(transport: HTTPTransport) {
        self.transport = transport
    }

    mutating func decode(line: ByteBuffer) throws(BackendError) -> String? {
        if line.isBlank { return nil }
        let chunk: OllamaWire.ChatChunk
        do {
            chunk = try OllamaWire.ChatChunk.scan(line) ?? json.decode(OllamaWire.ChatChunk.self, from: line)
        } catch {
            throw BackendError(
                .badResponse,
                "Ollama at \(transport.configuredURL) sent a line that is not JSON; check that ollama_url points at Ollama.",
                backend: transport.backend,
                cause: error
            )
        }
        if let error = chunk.error {
            let detail = ServerErrorBody.sanitize(error) ?? "no details"
            throw BackendError(
                .badResponse,
                "Ollama at \(transport.configuredURL) reported an error during generation: \(detail)",
                backend: transport.backend
            )
        }
        if chunk.done == true {
            isDone = true
            finishReason = FinishReason(serverValue: chunk.doneReason)
            promptTokens = chunk.promptEvalCount
            completionTokens = chunk.evalCount
        }
        return chunk.message?.content
    }

    mutating func end() throws(BackendError) -> String? {
        guard isDone else {
            throw BackendError(
                .badResponse,
                "Ollama at \(transport.configuredURL) ended the response before it was done; check its log.",
                backend: transport.backend
            )
        }
        return nil
    }
}
