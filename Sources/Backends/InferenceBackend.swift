// The Backends module: local LLM inference for pylon.
//
// It owns the wire formats of the inference servers (Ollama NDJSON, OpenAI/llama.cpp SSE), the Apple
// Foundation Models binding, and the registry that detects backends, lists their models and routes a
// request to one. It imports no Nostr code: the Provider turns a NIP-90 job into an
// `InferenceRequest`, and the daemon maps `[backends]` from config.toml onto
// `BackendRegistry.Configuration`.

import Synchronization

/// One inference server (or on-device model) that pylon can send a request to.
///
/// Conformers are value types or actors that can be shared between tasks. The core requirement is
/// ``generate(_:onToken:)``, which runs in the caller's task so that cancelling the task aborts the
/// request (for HTTP backends: closes the connection). ``stream(_:)`` and ``complete(_:)`` are built
/// on it.
public protocol InferenceBackend: Sendable {
    /// The backend's name as `[backends].preference` spells it: `ollama`, `llamacpp`, `openai`,
    /// `apple_fm`. Also the `backend` metric label.
    var name: String { get }
    /// The base URL the backend talks to, for status output ("" where there is none). Never
    /// contains credentials.
    var baseURL: String { get }

    /// Checks that the backend is ready and returns the models it serves, in the server's order.
    /// Throws when it is not ready (unreachable, loading, not on this platform).
    func models() async throws(BackendError) -> [String]

    /// Runs one inference. Calls `onToken` with each piece of output as it arrives, in order, one
    /// call at a time, from wherever the response is read (the HTTP backends: the connection's
    /// event loop), so it must be quick and must not wait; returns how the generation ended once
    /// the server says it is done. `request.model` names the model; the registry fills it in.
    ///
    /// Cancelling the calling task aborts the request and throws a `cancelled` error.
    func generate(
        _ request: InferenceRequest,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary
}

/// A chat message of an ``InferenceRequest``.
public struct ChatMessage: Sendable, Hashable, Codable {
    /// Who speaks.
    public enum Role: String, Sendable, Hashable, Codable {
        case system, user, assistant
    }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// One inference request: messages plus the NIP-90 params pylon understands.
///
/// Unset parameters (`nil`) are left out of the request so the server's defaults apply.
@dynamicMemberLookup
public struct InferenceRequest: Sendable, Equatable {
    /// The conversation, oldest first; a NIP-90 text job is one `user` message.
    public var messages: [ChatMessage]
    /// The model to run; `nil` lets the registry choose (its default model).
    public var model: String?
    /// How to generate; `request.temperature` reads `request.sampling.temperature`.
    public var sampling: Sampling
    /// When the whole request must be done; `nil` uses the configured total timeout.
    public var deadline: ContinuousClock.Instant?

    public init(messages: [ChatMessage], model: String? = nil, sampling: Sampling = Sampling(), deadline: ContinuousClock.Instant? = nil) {
        self.messages = messages
        self.model = model
        self.sampling = sampling
        self.deadline = deadline
    }

    /// A request with one user message.
    public init(prompt: String, model: String? = nil, sampling: Sampling = Sampling(), deadline: ContinuousClock.Instant? = nil) {
        self.init(messages: [ChatMessage(role: .user, content: prompt)], model: model, sampling: sampling, deadline: deadline)
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<Sampling, Value>) -> Value {
        sampling[keyPath: keyPath]
    }
}

/// The sampling settings a backend passes on, as NIP-90 params name them; `nil` (or no stop
/// sequence) leaves the server's default.
public struct Sampling: Sendable, Equatable {
    /// The most tokens to generate (Ollama `num_predict`, OpenAI `max_tokens`).
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var frequencyPenalty: Double?
    /// Stop sequences; empty for none.
    public var stop: [String]

    public init(
        maxTokens: Int? = nil, temperature: Double? = nil, topP: Double? = nil, topK: Int? = nil, frequencyPenalty: Double? = nil,
        stop: [String] = []
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.frequencyPenalty = frequencyPenalty
        self.stop = stop
    }
}

/// Why a generation ended.
public enum FinishReason: String, Sendable, Hashable, Codable {
    /// The model stopped by itself or hit a stop sequence.
    case stop
    /// The token limit (`maxTokens` or the context window) was reached.
    case length
    /// Anything else the server reported (content filter, tool call, unload…).
    case other

    init(serverValue: String?) {
        switch serverValue {
        case "stop", "eos", nil: self = .stop
        case "length", "max_tokens": self = .length
        default: self = .other
        }
    }
}

/// How a generation ended: what ``InferenceBackend/generate(_:onToken:)`` returns.
public struct InferenceSummary: Sendable, Equatable {
    public var finishReason: FinishReason
    /// Prompt tokens as the server counted them; 0 when it does not say.
    public var promptTokens: Int
    /// Generated tokens as the server counted them; the number of output pieces when it does not say.
    public var completionTokens: Int
    /// From sending the request to the first output piece; `nil` when there was no output.
    public var timeToFirstToken: Duration?

    public init(finishReason: FinishReason, promptTokens: Int, completionTokens: Int, timeToFirstToken: Duration?) {
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.timeToFirstToken = timeToFirstToken
    }
}

/// What a stream of inference output yields.
public enum InferenceEvent: Sendable, Equatable {
    /// A piece of output text, as the server sent it.
    case token(String)
    /// The last event: why the generation ended and the token counts.
    case finished(FinishReason, promptTokens: Int, completionTokens: Int)
}

/// A whole completion: what the non-streaming ``InferenceBackend/complete(_:)`` returns.
public struct InferenceResult: Sendable, Equatable {
    public var text: String
    public var finishReason: FinishReason
    public var promptTokens: Int
    public var completionTokens: Int
    /// The backend that served it.
    public var backend: String
    /// The model that served it ("" when the request named none).
    public var model: String
    public var timeToFirstToken: Duration?
    /// From sending the request to the end of the response.
    public var duration: Duration

    public init(
        text: String,
        finishReason: FinishReason,
        promptTokens: Int,
        completionTokens: Int,
        backend: String,
        model: String,
        timeToFirstToken: Duration?,
        duration: Duration
    ) {
        self.text = text
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.backend = backend
        self.model = model
        self.timeToFirstToken = timeToFirstToken
        self.duration = duration
    }
}

extension InferenceBackend {
    /// Streams one inference: `.token` events as output arrives, then one `.finished`. Errors are
    /// ``BackendError``s. Ending the iteration early (or cancelling the iterating task) aborts the
    /// request.
    public func stream(_ request: InferenceRequest) -> AsyncThrowingStream<InferenceEvent, any Error> {
        makeInferenceStream { continuation throws(BackendError) in
            let summary = try await self.generate(request) { continuation.yield(.token($0)) }
            continuation.yield(
                .finished(
                    summary.finishReason,
                    promptTokens: summary.promptTokens,
                    completionTokens: summary.completionTokens
                )
            )
        }
    }

    /// Runs one inference and returns the whole output.
    public func complete(_ request: InferenceRequest) async throws(BackendError) -> InferenceResult {
        let start = ContinuousClock.now
        let text = TextCollector()
        let summary = try await generate(request) { text.append($0) }
        return InferenceResult(
            text: text.take(),
            finishReason: summary.finishReason,
            promptTokens: summary.promptTokens,
            completionTokens: summary.completionTokens,
            backend: name,
            model: request.model ?? "",
            timeToFirstToken: summary.timeToFirstToken,
            duration: ContinuousClock.now - start
        )
    }
}

/// Collects output pieces as a backend reads them. The lock guards the text; it is taken once per
/// piece and never contended (one writer, one reader at the end).
final class TextCollector: Sendable {
    private let text = Mutex("")

    func append(_ piece: String) {
        text.withLock { $0 += piece }
    }

    func take() -> String {
        text.withLock { $0 }
    }
}

/// Makes an `AsyncThrowingStream` whose producer runs in a task owned by the stream: the task is
/// cancelled when the consumer stops iterating or drops the stream, which aborts the request.
func makeInferenceStream(
    _ produce: @escaping @Sendable (AsyncThrowingStream<InferenceEvent, any Error>.Continuation) async throws(BackendError) -> Void
) -> AsyncThrowingStream<InferenceEvent, any Error> {
    let (stream, continuation) = AsyncThrowingStream<InferenceEvent, any Error>.makeStream()
    // Owned by the stream: `onTermination` cancels it.
    let task = Task {
        do {
            try await produce(continuation)
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
}
