import ArgumentParser
import Backends
import ControlProtocol
import Daemon
import Foundation
import Logging
import PylonBasics

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
        let result: LocalJobResult
        if RuntimeFiles.runningPID(paths) != nil {
            result = try throughDaemon(job, socket: paths.controlSocket.path)
        } else {
            result = try await direct(job, paths: paths)
        }
        if json {
            try Output.json(result)
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
    }

    private func throughDaemon(_ job: SubmitJob, socket: String) throws -> LocalJobResult {
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

    private func direct(_ job: SubmitJob, paths: PylonPaths) async throws -> LocalJobResult {
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
        let outcome: Result<LocalJobResult, BackendError>
        do {
            outcome = .success(try await LocalInference.run(job, on: registry) { token in
                if job.stream { FileHandle.standardOutput.write(Data(token.utf8)) }
            })
        } catch let error as BackendError {
            outcome = .failure(error)
        }
        await registry.shutdown()
        switch outcome {
        case .success(let result): return result
        case .failure(let error): throw Output.fail(error.message)
        }
    }
}
