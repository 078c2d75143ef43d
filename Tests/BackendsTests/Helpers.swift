import AsyncHTTPClient
import Backends
import Metrics
import PylonTestSupport
import Synchronization
import Logging
import Testing

/// Short timeouts so that a failing test fails fast.
let testTimeouts = BackendTimeouts(
    connect: .seconds(2),
    firstToken: .seconds(10),
    idle: .seconds(10),
    total: .seconds(30),
    probe: .seconds(2)
)

/// Runs `body` with a started mock server and stops it afterwards, whatever happens.
func withMockServer<T>(
    _ configure: (inout MockLLMServer.Behavior) -> Void = { _ in },
    _ body: (MockLLMServer) async throws -> T
) async throws -> T {
    var behavior = MockLLMServer.Behavior()
    configure(&behavior)
    let server = MockLLMServer(behavior: behavior)
    try await server.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// Runs `body` with an HTTP client configured as the registry configures its own, shut down
/// afterwards.
func withClient<T>(
    timeouts: BackendTimeouts = testTimeouts,
    _ body: (HTTPClient) async throws -> T
) async throws -> T {
    try await HTTPClient.withHTTPClient(configuration: BackendRegistry.httpClientConfiguration(timeouts)) { client in
        try await body(client)
    }
}

/// Runs `body` with a registry that is shut down afterwards (its HTTP client must be).
func withRegistry<T>(
    _ configuration: BackendRegistry.Configuration,
    environment: [String: String] = [:],
    metrics: (any MetricsFactory)? = nil,
    logs: TestLogs? = nil,
    _ body: (BackendRegistry) async throws -> T
) async throws -> T {
    let registry = BackendRegistry(
        configuration: configuration,
        logger: logs?.logger ?? quietLogger,
        metricsFactory: metrics,
        environment: environment
    )
    do {
        let result = try await body(registry)
        await registry.shutdown()
        return result
    } catch {
        await registry.shutdown()
        throw error
    }
}

/// Collects a stream: the text, the finish event, and the error that ended it (if any).
struct Collected {
    var tokens: [String] = []
    var finished: InferenceEvent?
    var error: BackendError?

    var text: String { tokens.joined() }
}

func collect(_ stream: AsyncThrowingStream<InferenceEvent, any Error>) async -> Collected {
    var collected = Collected()
    do {
        for try await event in stream {
            switch event {
            case .token(let token): collected.tokens.append(token)
            case .finished: collected.finished = event
            }
        }
    } catch let error as BackendError {
        collected.error = error
    } catch {
        Issue.record("a stream threw something that is not a BackendError: \(error)")
    }
    return collected
}

/// Expects `operation` to throw a ``BackendError`` and returns it.
func expectBackendError<T>(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ operation: () async throws -> T
) async -> BackendError? {
    do {
        let value = try await operation()
        Issue.record("expected a BackendError, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as BackendError {
        return error
    } catch {
        Issue.record("expected a BackendError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Polls `condition` until it holds or the deadline passes; never a fixed sleep.
func awaitCondition(
    _ what: String,
    within timeout: Duration = .seconds(10),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async -> Bool
) async {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
}

/// Records a registry's state changes as they come, for tests to poll.
final class ChangeRecorder: Sendable {
    private final class Log: Sendable {
        let changes = Mutex<[BackendStateChange]>([])
    }

    private let log = Log()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<BackendStateChange>) {
        let log = self.log
        // Owned by the recorder: cancelled in deinit; ends by itself when the registry shuts down.
        task = Task {
            for await change in stream {
                log.changes.withLock { $0.append(change) }
            }
        }
    }

    deinit { task.cancel() }

    var changes: [BackendStateChange] { log.changes.withLock { $0 } }

    func changes(of backend: String) -> [BackendStateChange] {
        changes.filter { $0.backend == backend }
    }
}

/// A logger that prints nothing (tests that read logs use ``TestLogs``).
let quietLogger: Logger = {
    var logger = Logger(label: "pylon.backends")
    logger.logLevel = .critical
    return logger
}()

/// Keeps log records in memory, at trace level, so tests can read what was logged.
final class TestLogs: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private final class Storage: Sendable {
        let records = Mutex<[Record]>([])
    }

    private struct Handler: LogHandler {
        let storage: Storage
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
                all[key] = "\(value)"
            }
            storage.records.withLock { $0.append(Record(level: event.level, message: "\(event.message)", metadata: all)) }
        }
    }

    private let storage = Storage()

    var logger: Logger {
        Logger(label: "pylon.backends") { _ in Handler(storage: self.storage) }
    }

    var records: [Record] { storage.records.withLock { $0 } }

    /// Every message and metadata value, for looking for things that must not be there.
    var allText: String {
        records.map { record in
            ([record.message] + record.metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }.joined(separator: "\n")
    }
}
