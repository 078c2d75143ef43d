import ArgumentParser
import Backends
import ControlProtocol
import Daemon
import Foundation
import Logging

/// `pylon infer`: one local completion, streamed to stdout, through the daemon's queue when it
/// runs and directly against the backends otherwise.
struct InferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "infer", abstract: "Run one local completion and stream it to stdout.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The prompt.")
    var prompt: String

    @Option(name: .long, help: "The model (default: [provider].default_model or the first model available).")
    var model: String?

    @Option(name: .long, help: "The backend: ollama, llamacpp, openai or apple_fm.")
    var backend: String?

    @Option(name: .customLong("max-tokens"), help: "At most this many tokens.")
    var maxTokens: Int?

    @Flag(name: .long, help: "Print one JSON document (id, output, model, backend, tokens, duration_ms) instead of streaming.")
    var json = false

    func validate() throws {
        if let maxTokens, maxTokens <= 0 { throw ValidationError("--max-tokens must be positive") }
        if prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("the prompt is empty") }
    }

    func run() async throws {
        let paths = global.paths
        let job = SubmitJob(prompt: prompt, model: model, backend: backend, maxTokens: maxTokens, stream: !json)
        let result: JobResult
        if RuntimeFiles.runningPID(paths) != nil {
            result = try throughDaemon(job, socket: paths.controlSocket.path)
        } else {
            result = try await direct(job, paths: paths)
        }
        if json {
            try Output.json(InferReport(result))
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
    }

    private func throughDaemon(_ job: SubmitJob, socket: String) throws -> JobResult {
        let client: ControlClient
        do {
            client = try ControlClient(socketPath: socket, timeout: .seconds(600))
        } catch {
            throw Output.fail(error.message)
        }
        defer { client.close() }
        do {
            return try client.submitJob(job) { token in
                FileHandle.standardOutput.write(Data(token.utf8))
            }
        } catch {
            throw Output.fail(error.code == .daemonError ? error.message : "the daemon did not complete the job: \(error.message)")
        }
    }

    private func direct(_ job: SubmitJob, paths: PylonPaths) async throws -> JobResult {
        let configuration: PylonConfiguration
        do {
            configuration = try PylonConfiguration.load(from: paths.configFile).configuration
        } catch {
            throw Output.fail(error.description)
        }
        var logger = Logger(label: "pylon.infer")
        logger.logLevel = .error
        let registry = BackendRegistry(
            configuration: configuration.backendConfiguration,
            logger: logger)
        _ = await registry.detectNow()
        let started = ContinuousClock.now
        let outcome: Result<(BackendRoute, InferenceSummary, String), BackendError>
        do {
            let route = try registry.route(model: job.model, backend: job.backend)
            let text = TextBox()
            let stream = job.stream
            let summary = try await registry.generate(
                InferenceRequest(prompt: job.prompt, model: job.model, maxTokens: job.maxTokens), on: route
            ) { token in
                text.append(token)
                if stream { FileHandle.standardOutput.write(Data(token.utf8)) }
            }
            outcome = .success((route, summary, text.value))
        } catch {
            outcome = .failure(error)
        }
        await registry.shutdown()
        switch outcome {
        case .failure(let error):
            throw Output.fail(error.message)
        case .success(let (route, summary, text)):
            let elapsed = ContinuousClock.now - started
            return JobResult(
                id: UUID().uuidString.lowercased(), output: text, model: route.model, backend: route.backendName,
                tokens: summary.completionTokens, durationMs: UInt64(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
        }
    }
}

/// Accumulates streamed text across the callback's task.
final class TextBox: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ piece: String) { lock.withLock { text += piece } }
    var value: String { lock.withLock { text } }
}

struct InferReport: Encodable {
    let id: String
    let output: String
    let model: String
    let backend: String
    let tokens: Int
    let durationMs: UInt64

    init(_ result: JobResult) {
        id = result.id
        output = result.output
        model = result.model
        backend = result.backend
        tokens = result.tokens
        durationMs = result.durationMs
    }

    enum CodingKeys: String, CodingKey {
        case id, output, model, backend, tokens
        case durationMs = "duration_ms"
    }
}
