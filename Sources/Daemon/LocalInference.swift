public import Backends
public import ControlProtocol
import PylonAsync

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A local job (the control socket's `SubmitJob`, `pylon infer`): one path whether the daemon runs
/// it in a slot of its queue or the CLI runs it against the backends itself.
public enum LocalInference {
    /// Routes the job, streams it, hands each token to `onToken` as it comes, and returns the
    /// result; throws the backend's error (or what `onToken` throws).
    public static func run(
        _ job: SubmitJob, on backends: BackendRegistry, onToken: (String) async throws -> Void = { _ in }
    ) async throws -> LocalJobResult {
        let started = ContinuousClock.now
        let route = try backends.route(model: job.model, backend: job.backend)
        var output = ""
        var tokens = 0
        for try await event in backends.stream(InferenceRequest(prompt: job.prompt, model: job.model, sampling: Sampling(maxTokens: job.maxTokens)), on: route) {
            switch event {
            case .token(let text):
                output += text
                try await onToken(text)
            case .finished(_, _, let completionTokens):
                tokens = completionTokens
            }
        }
        let elapsed = ContinuousClock.now - started
        return LocalJobResult(
            id: UUID().uuidString.lowercased(), output: output, model: route.model, backend: route.backendName, tokens: tokens,
            durationMs: UInt64(max(0, elapsed.milliseconds)))
    }
}
