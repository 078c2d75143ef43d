#if canImport(FoundationModels)
import FoundationModels
#endif

/// Apple's on-device model through the FoundationModels framework, in process (no bridge server).
///
/// Compiled where the framework exists (macOS 26 SDK and later); it serves one model,
/// ``modelName``, when `SystemLanguageModel.default` is available. Elsewhere (Linux, older macOS)
/// detection reports it unavailable and every request fails with `unavailable`.
public struct AppleFoundationModelsBackend: InferenceBackend {
    /// The one model this backend lists.
    public static let modelName = "apple-foundation-model"
    static let unavailableOnPlatform = "Apple Foundation Models are unavailable on this platform"

    public let name = BackendName.appleFM
    public let baseURL = ""
    public let timeouts: BackendTimeouts

    public init(timeouts: BackendTimeouts = BackendTimeouts()) {
        self.timeouts = timeouts
    }

    public func models() async throws(BackendError) -> [String] {
        #if canImport(FoundationModels)
        if #available(macOS 26.0, iOS 26.0, visionOS 26.0, *) {
            try FoundationModelsRunner.checkAvailable()
            return [Self.modelName]
        }
        throw BackendError(.unavailable, "Apple Foundation Models need macOS 26 or later.", backend: name)
        #else
        throw BackendError(.unavailable, Self.unavailableOnPlatform, backend: name)
        #endif
    }

    public func generate(
        _ request: InferenceRequest,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        #if canImport(FoundationModels)
        if #available(macOS 26.0, iOS 26.0, visionOS 26.0, *) {
            if let model = request.model, !model.isEmpty, model != Self.modelName {
                throw BackendError(
                    .modelNotFound,
                    "Apple Foundation Models serve only the model \"\(Self.modelName)\", not \"\(model)\".",
                    backend: name
                )
            }
            return try await FoundationModelsRunner.generate(request, timeouts: timeouts, onToken: onToken)
        }
        throw BackendError(.unavailable, "Apple Foundation Models need macOS 26 or later.", backend: name)
        #else
        throw BackendError(.unavailable, Self.unavailableOnPlatform, backend: name)
        #endif
    }
}

#if canImport(FoundationModels)
@available(macOS 26.0, iOS 26.0, visionOS 26.0, *)
enum FoundationModelsRunner {
    static func checkAvailable() throws(BackendError) {
        let availability = SystemLanguageModel.default.availability
        guard case .unavailable(let reason) = availability else { return }
        let message: String
        if reason == .deviceNotEligible {
            message = "This Mac cannot run Apple Foundation Models (Apple Intelligence is not supported on it)."
        } else if reason == .appleIntelligenceNotEnabled {
            message = "Apple Foundation Models need Apple Intelligence; turn it on in System Settings."
        } else if reason == .modelNotReady {
            message = "The Apple Foundation Model is not ready yet (it may still be downloading); try again later."
        } else {
            message = "Apple Foundation Models are not available on this Mac right now."
        }
        throw BackendError(.unavailable, message, backend: BackendName.appleFM)
    }

    static func generate(
        _ request: InferenceRequest,
        timeouts: BackendTimeouts,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        try checkAvailable()
        let instructions = request.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
        let turns = request.messages.filter { $0.role != .system }
        let prompt: String
        if turns.count == 1, let only = turns.first {
            prompt = only.content
        } else {
            prompt = turns.map { "\($0.role == .user ? "User" : "Assistant"): \($0.content)" }.joined(separator: "\n\n")
        }
        let options = generationOptions(request)
        let start = ContinuousClock.now
        do {
            return try await withWatchdog(
                start: start,
                timeouts: timeouts,
                deadline: request.deadline,
                timeoutError: { phase in
                    let what: String
                    switch phase {
                    case .firstToken: what = "produced no output within \(timeouts.firstToken.secondsText)"
                    case .idle: what = "stopped producing output for \(timeouts.idle.secondsText)"
                    case .deadline, .drain: what = "did not finish before the request's deadline"
                    }
                    return BackendError(.timeout, "Apple Foundation Models \(what).", backend: BackendName.appleFM)
                }
            ) { watchdog throws(BackendError) in
                // The session is made and used in this task only.
                let session = LanguageModelSession(instructions: instructions.isEmpty ? nil : instructions)
                var sentBytes = 0
                var sent = ""
                var pieces = 0
                var firstTokenAt: ContinuousClock.Instant?
                var finishReason = FinishReason.stop
                do {
                    for try await snapshot in session.streamResponse(to: prompt, options: options) {
                        // Each snapshot holds the whole answer so far; pass on what is new.
                        let content = snapshot.content
                        guard content.utf8.count > sentBytes, content.hasPrefix(sent) else { continue }
                        let piece = String(decoding: content.utf8.dropFirst(sentBytes), as: UTF8.self)
                        sent = content
                        sentBytes = content.utf8.count
                        pieces += 1
                        if firstTokenAt == nil { firstTokenAt = .now }
                        watchdog.activity()
                        onToken(piece)
                    }
                } catch let error as LanguageModelSession.GenerationError {
                    if case .exceededContextWindowSize = error {
                        finishReason = .length
                    } else {
                        throw mapped(error)
                    }
                } catch is CancellationError {
                    throw BackendError(.cancelled, "The request to Apple Foundation Models was cancelled.", backend: BackendName.appleFM)
                } catch {
                    throw BackendError(
                        .badResponse,
                        "Apple Foundation Models failed to answer.",
                        backend: BackendName.appleFM,
                        cause: error
                    )
                }
                return InferenceSummary(
                    finishReason: finishReason,
                    promptTokens: 0,
                    completionTokens: pieces,
                    timeToFirstToken: firstTokenAt.map { $0 - start }
                )
            }
        } catch let error as BackendError {
            throw error
        } catch {
            throw BackendError(.cancelled, "The request to Apple Foundation Models was cancelled.", backend: BackendName.appleFM, cause: error)
        }
    }

    static func generationOptions(_ request: InferenceRequest) -> GenerationOptions {
        let sampling: GenerationOptions.SamplingMode?
        if request.temperature == 0 {
            sampling = .greedy
        } else if let topK = request.topK, topK > 0 {
            sampling = .random(top: topK, seed: nil)
        } else if let topP = request.topP, topP > 0, topP <= 1 {
            sampling = .random(probabilityThreshold: topP, seed: nil)
        } else {
            sampling = nil
        }
        let temperature = request.temperature.map { min(max($0, 0), 1) }
        let maximum = request.maxTokens.flatMap { $0 > 0 ? $0 : nil }
        return GenerationOptions(sampling: sampling, temperature: temperature, maximumResponseTokens: maximum)
    }

    static func mapped(_ error: LanguageModelSession.GenerationError) -> BackendError {
        if case .assetsUnavailable = error {
            return BackendError(.unavailable, "The Apple Foundation Model is not available right now.", backend: BackendName.appleFM, cause: error)
        }
        if case .rateLimited = error {
            return BackendError(.unavailable, "Apple Foundation Models are rate limiting this process; try again later.", backend: BackendName.appleFM, cause: error)
        }
        if case .guardrailViolation = error {
            return BackendError(.badResponse, "Apple Foundation Models declined the prompt (safety guardrails).", backend: BackendName.appleFM, cause: error)
        }
        return BackendError(.badResponse, "Apple Foundation Models failed to answer.", backend: BackendName.appleFM, cause: error)
    }
}
#endif
