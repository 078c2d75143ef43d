import Backends
import ControlProtocol
import Foundation
import Synchronization

/// Answers control-socket requests for the running daemon (SPEC §5, §12).
final class DaemonControlHandler: ControlHandler, Sendable {
    private let attached = Mutex<PylonDaemon?>(nil)

    var daemon: PylonDaemon? { attached.withLock { $0 } }

    func attach(_ daemon: PylonDaemon) { attached.withLock { $0 = daemon } }

    func handle(_ request: ControlRequest, reply: ControlReply) async throws {
        guard let daemon else {
            try await reply(.error("the daemon is still starting; try again in a moment"))
            return
        }
        switch request {
        case .ping:
            try await reply(.pong)
        case .status:
            try await reply(.status(await daemon.status()))
        case .shutdown:
            try await reply(.ok)
            await daemon.shutdown()
        case .reload:
            try await reply(await daemon.reloader.reload(.command).controlResponse)
        case .dumpState:
            try await reply(.state(.object([:])))
        case .events:
            try await reply(.events([]))
        case .submitJob(let job):
            try await submit(job, daemon: daemon, reply: reply)
        }
    }

    /// Runs a local job (the seed's `ipc` interface), streaming tokens when asked.
    private func submit(_ job: SubmitJob, daemon: PylonDaemon, reply: ControlReply) async throws {
        guard daemon.options.mode.includesProvider else {
            try await reply(.error("this daemon runs in host mode without inference backends; start it with --mode provider or both"))
            return
        }
        let started = ContinuousClock.now
        let request = InferenceRequest(prompt: job.prompt, model: job.model, maxTokens: job.maxTokens)
        let output = TokenBuffer()
        let route: BackendRoute
        let summary: InferenceSummary
        do {
            route = try await daemon.backends.route(model: job.model, backend: job.backend)
            summary = try await daemon.backends.generate(request, on: route) { token in
                output.append(token)
            }
        } catch {
            try await reply(.error(error.message))
            return
        }
        do {
            let text = output.take()
            if job.stream {
                // Tokens were collected in order; send them before the final result.
                for token in output.tokens { try await reply(.token(token)) }
            }
            let elapsed = ContinuousClock.now - started
            try await reply(
                .jobResult(
                    JobResult(
                        id: UUID().uuidString.lowercased(), output: text, model: route.model, backend: route.backendName,
                        tokens: summary.completionTokens,
                        durationMs: UInt64(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))))
        }
    }
}

/// Collects streamed tokens from the inference callback.
final class TokenBuffer: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ token: String) { storage.withLock { $0.append(token) } }
    var tokens: [String] { storage.withLock { $0 } }
    func take() -> String { storage.withLock { $0.joined() } }
}
