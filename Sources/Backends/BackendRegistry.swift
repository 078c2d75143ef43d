public import AsyncHTTPClient
public import Logging
public import Metrics
public import ServiceLifecycle
public import NIOCore
import PylonAsync
import Synchronization

/// The backends pylon knows, their state and models, and where a request goes.
///
/// - Detection runs at start and every `detectionInterval` (30 s): each configured backend is
///   probed (`/api/tags`, `/health` + `/v1/models`, FoundationModels availability). A backend going
///   up or down is logged, counted (`pylon_backend_up{backend}`) and sent on ``stateChanges``,
///   which the daemon journals as `backend.up` / `backend.down`. A failed call that finds the
///   server unreachable marks the backend down at once.
/// - Routing (``route(model:backend:)``): a requested model goes to the first ready backend in
///   preference order that lists it; no model means `defaultModel`, or the first model of the
///   first ready backend; a model no ready backend has is a `modelNotFound` error naming what is
///   available. Never a silent fallback.
/// - ``update(configuration:)`` applies a reloaded `[backends]` live.
///
/// A `Service`: ``run()`` loops detection until graceful shutdown, then shuts down the HTTP client
/// the registry made. A registry that is never run must be ended with ``shutdown()``.
public actor BackendRegistry: Service {
    private struct Entry {
        let id: UInt64
        let backend: any InferenceBackend
        /// What the backend was made from; a reload that changes it makes a new backend.
        let key: Key
        let metrics: BackendMetrics
        /// nil until the first detection.
        var state: BackendState?
        var models: [String] = []
        var lastError: BackendError?
    }

    private struct Key: Equatable {
        var name: String
        var url: String
        var apiKeyEnv: String
        var timeouts: BackendTimeouts
        var limits: BackendLimits
    }

    public private(set) var configuration: Configuration {
        didSet { routing.withLock { $0.defaultModel = configuration.defaultModel } }
    }
    /// Backend up/down events, oldest first. One consumer (the daemon's journal); holds the newest
    /// 256 events if nobody reads. Finishes when the registry shuts down.
    public nonisolated let stateChanges: AsyncStream<BackendStateChange>
    private let changes: AsyncStream<BackendStateChange>.Continuation

    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let environment: [String: String]?
    private let client: HTTPClient
    private let ownsClient: Bool
    private var isShutDown = false
    /// Set once every configured backend has been probed once (or the registry shut down).
    private nonisolated let firstDetection = Promise<Void>()

    /// What routing reads: the entries and the default model, behind a lock of their own so that
    /// a job is routed where it is (``route(model:backend:)`` is nonisolated), not on the actor.
    private struct Routing: Sendable {
        var entries: [Entry]
        var defaultModel: String
    }

    private let routing: Mutex<Routing>
    private var entries: [Entry] {
        get { routing.withLock { $0.entries } }
        set { routing.withLock { $0.entries = newValue } }
    }
    private var nextID: UInt64 = 0
    private var metricsByName: [String: BackendMetrics] = [:]

    /// - Parameters:
    ///   - configuration: `[backends]`.
    ///   - logger: Label `pylon.backends` by convention.
    ///   - metricsFactory: Where metrics go (the bootstrapped system by default).
    ///   - environment: Where API keys are read; nil reads the process environment.
    ///   - httpClient: A client to share; nil makes one (with the configured connect timeout and no
    ///     connection retries, so a refused connection fails at once) that the registry shuts down.
    ///   - eventLoopGroup: where the client made here connects (AsyncHTTPClient's shared group by default).
    public init(
        configuration: Configuration,
        logger: Logger = Logger(label: "pylon.backends"),
        metricsFactory: (any MetricsFactory)? = nil,
        environment: [String: String]? = nil,
        httpClient: HTTPClient? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metricsFactory = metricsFactory ?? MetricsSystem.factory
        self.environment = environment
        if let httpClient {
            self.client = httpClient
            self.ownsClient = false
        } else {
            self.client = HTTPClient(
                eventLoopGroup: eventLoopGroup ?? HTTPClient.defaultEventLoopGroup,
                configuration: Self.httpClientConfiguration(configuration.timeouts)
            )
            self.ownsClient = true
        }
        (stateChanges, changes) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        var nextID: UInt64 = 0
        var metricsByName: [String: BackendMetrics] = [:]
        let entries = Self.makeEntries(
            configuration,
            keeping: [],
            maker: Maker(client: client, environment: environment, logger: logger, metricsFactory: self.metricsFactory),
            nextID: &nextID,
            metricsByName: &metricsByName
        )
        routing = Mutex(Routing(entries: entries, defaultModel: configuration.defaultModel))
        self.nextID = nextID
        self.metricsByName = metricsByName
    }

    /// What making a backend needs.
    private struct Maker {
        let client: HTTPClient
        let environment: [String: String]?
        let logger: Logger
        let metricsFactory: any MetricsFactory
    }

    private var maker: Maker {
        Maker(client: client, environment: environment, logger: logger, metricsFactory: metricsFactory)
    }

    /// The HTTP client settings backends need: a connect timeout, no retry of a refused connection,
    /// no redirects, no decompression.
    public static func httpClientConfiguration(_ timeouts: BackendTimeouts) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(timeouts.connect.nanoseconds), read: nil),
            decompression: .disabled
        )
        configuration.connectionPool.retryConnectionEstablishment = false
        // No tracer: with the default (no-op) one the client still opened a span per request
        // and parsed the URL again with Foundation to label it, about 1 % of a job's CPU.
        configuration.tracing.tracer = nil
        return configuration
    }

    // MARK: Service

    /// Detects now and then every `detectionInterval` until graceful shutdown or cancellation;
    /// then shuts down.
    public func run() async throws {
        await detectNow()
        try? await cancelWhenGracefulShutdown {
            while true {
                let interval = await self.configuration.detectionInterval
                try await LoopTimer.sleep(for: interval)
                await self.detectNow()
            }
        }
        await shutdown()
    }

    /// Shuts down the HTTP client (if the registry made it) and finishes ``stateChanges``.
    /// Requests after this fail with `unavailable`. Safe to call more than once.
    public func shutdown() async {
        guard !isShutDown else { return }
        isShutDown = true
        firstDetection.fulfill(())
        changes.finish()
        if ownsClient {
            do {
                try await client.shutdown()
            } catch {
                logger.debug("HTTP client shutdown failed", metadata: ["error.message": "\(error)"])
            }
        }
    }

    // MARK: Configuration

    /// Applies a new `[backends]` live: backends whose settings did not change keep their state;
    /// new or changed ones are detected at once; removed ones are reported down.
    public func update(configuration newConfiguration: Configuration) async {
        let old = entries
        configuration = newConfiguration
        entries = Self.makeEntries(
            newConfiguration,
            keeping: old,
            maker: maker,
            nextID: &nextID,
            metricsByName: &metricsByName
        )
        let kept = Set(entries.map(\.id))
        for entry in old where !kept.contains(entry.id) && entry.state == .ready {
            entry.metrics.setUp(false)
            emit(
                BackendStateChange(
                    backend: entry.backend.name,
                    url: entry.backend.baseURL,
                    state: .unavailable,
                    models: [],
                    reason: "removed or changed in the configuration"
                )
            )
        }
        logger.info(
            "Backends configuration applied",
            metadata: ["backends.preference": "\(entries.map(\.backend.name).joined(separator: ","))"]
        )
        await detect(entries.filter { $0.state == nil }.map(\.id))
    }

    private static func makeEntries(
        _ configuration: Configuration,
        keeping old: [Entry],
        maker: Maker,
        nextID: inout UInt64,
        metricsByName: inout [String: BackendMetrics]
    ) -> [Entry] {
        var result: [Entry] = []
        var seen = Set<String>()
        for name in configuration.preference {
            guard seen.insert(name).inserted else { continue }
            guard let key = key(for: name, in: configuration, logger: maker.logger) else { continue }
            if let existing = old.first(where: { $0.key == key }) {
                result.append(existing)
                continue
            }
            nextID += 1
            let metrics: BackendMetrics
            if let made = metricsByName[name] {
                metrics = made
            } else {
                metrics = BackendMetrics(backend: name, factory: maker.metricsFactory)
                metricsByName[name] = metrics
            }
            result.append(Entry(id: nextID, backend: makeBackend(key, maker: maker), key: key, metrics: metrics))
        }
        return result
    }

    /// The settings a backend is made from; nil when it is disabled (no URL) or the name is unknown.
    private static func key(for name: String, in configuration: Configuration, logger: Logger) -> Key? {
        let url: String
        var apiKeyEnv = ""
        switch name {
        case BackendName.appleFM: url = ""
        case BackendName.ollama: url = configuration.ollamaURL
        case BackendName.llamacpp: url = configuration.llamacppURL
        case BackendName.openai:
            url = configuration.openaiURL
            apiKeyEnv = configuration.openaiAPIKeyEnv
        default:
            logger.warning("Unknown backend in preference ignored", metadata: ["backend.name": "\(name)"])
            return nil
        }
        if name != BackendName.appleFM, url.trimmingWhitespace().isEmpty { return nil }
        return Key(
            name: name,
            url: url.trimmingWhitespace(),
            apiKeyEnv: apiKeyEnv,
            timeouts: configuration.timeouts,
            limits: configuration.limits
        )
    }

    private static func makeBackend(_ key: Key, maker: Maker) -> any InferenceBackend {
        switch key.name {
        case BackendName.ollama:
            OllamaBackend(baseURL: key.url, client: maker.client, timeouts: key.timeouts, limits: key.limits)
        case BackendName.llamacpp:
            OpenAIBackend(
                flavor: .llamacpp,
                baseURL: key.url,
                client: maker.client,
                timeouts: key.timeouts,
                limits: key.limits
            )
        case BackendName.openai:
            OpenAIBackend(
                flavor: .openai,
                baseURL: key.url,
                client: maker.client,
                apiKeyEnv: key.apiKeyEnv,
                environment: maker.environment,
                timeouts: key.timeouts,
                limits: key.limits
            )
        default:
            AppleFoundationModelsBackend(timeouts: key.timeouts)
        }
    }

    // MARK: Detection

    /// Probes every configured backend now (concurrently) and returns the resulting status.
    @discardableResult
    public func detectNow() async -> [BackendStatus] {
        await detect(entries.map(\.id))
        firstDetection.fulfill(())
        return status()
    }

    /// Waits (up to `timeout`) until every backend has been probed once: before that, "no backend
    /// is ready" only means "not looked yet". A provider starting with jobs to recover, or with
    /// requests the relays replay, waits here before it routes them.
    @discardableResult
    public nonisolated func awaitFirstDetection(timeout: Duration) async -> Bool {
        await firstDetection.wait(timeout: timeout) != nil
    }

    private func detect(_ ids: [UInt64]) async {
        let targets = entries.filter { ids.contains($0.id) }.map { ($0.id, $0.backend) }
        guard !targets.isEmpty, !isShutDown else { return }
        await withTaskGroup(of: (UInt64, Result<[String], BackendError>).self) { group in
            for (id, backend) in targets {
                group.addTask {
                    // The result is built apart from the `return`: `return (id, .success(try await …))`
                    // came back with a wrong `id` from a release build (Swift 6.3.1).
                    let result: Result<[String], BackendError>
                    do throws(BackendError) {
                        let models = try await backend.models()
                        result = .success(models)
                    } catch {
                        result = .failure(error)
                    }
                    return (id, result)
                }
            }
            for await (id, result) in group {
                switch result {
                case .success(let models): setState(id, .ready, models: models, error: nil)
                case .failure(let error): setState(id, .unavailable, models: [], error: error)
                }
            }
        }
    }

    private func setState(_ id: UInt64, _ state: BackendState, models: [String], error: BackendError?) {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
        let previous = entries[index]
        entries[index].state = state
        entries[index].models = models
        entries[index].lastError = error
        let backend = previous.backend
        previous.metrics.setUp(state == .ready)
        var metadata: Logger.Metadata = [
            "backend.name": "\(backend.name)",
            "backend.url": "\(backend.baseURL)",
        ]
        if previous.state != state {
            if state == .ready {
                metadata["backend.models"] = "\(models.count)"
                logger.info("Backend up", metadata: metadata)
            } else {
                metadata["error.code"] = "\(error?.code.rawValue ?? "")"
                metadata["error.message"] = "\(error?.message ?? "")"
                logger.warning("Backend down", metadata: metadata)
            }
            emit(
                BackendStateChange(
                    backend: backend.name,
                    url: backend.baseURL,
                    state: state,
                    models: models,
                    reason: error?.message,
                    errorCode: error?.code
                )
            )
        } else if state == .ready, previous.models != models {
            metadata["backend.models"] = "\(models.count)"
            logger.info("Backend models changed", metadata: metadata)
        }
    }

    private func emit(_ change: BackendStateChange) {
        changes.yield(change)
    }

    /// A call failed: an unreachable server (refused, or no connection within the connect
    /// timeout) is down now, not at the next detection; a model the server says it lacks is
    /// dropped from its list until the next detection.
    private func noteFailure(_ route: BackendRoute, _ error: BackendError) {
        switch error.code {
        case .unreachable:
            setState(route.entryID, .unavailable, models: [], error: error)
        case .timeout where (error.cause as? HTTPClientError) == .connectTimeout:
            setState(route.entryID, .unavailable, models: [], error: error)
        case .modelNotFound:
            guard let index = entries.firstIndex(where: { $0.id == route.entryID }) else { return }
            entries[index].models.removeAll { $0 == route.model }
        default:
            break
        }
    }

    // MARK: Status

    /// Every configured backend in preference order: the snapshot `pylon status` shows.
    public func status() -> [BackendStatus] {
        entries.map { entry in
            BackendStatus(
                name: entry.backend.name,
                url: entry.backend.baseURL,
                state: entry.state ?? .unavailable,
                models: entry.models,
                lastError: entry.lastError?.message,
                lastErrorCode: entry.lastError?.code,
                detected: entry.state != nil
            )
        }
    }

    /// Whether some backend is ready and serves at least one model (`/readyz`, `doctor`).
    public var isReady: Bool {
        entries.contains { $0.state == .ready && !$0.models.isEmpty }
    }

    // MARK: Routing

    /// Chooses the backend and model for a request, from the state the last detection left; no hop
    /// to the registry.
    ///
    /// - Parameters:
    ///   - model: The requested model; nil or "" for the default.
    ///   - backend: Only this backend (`pylon infer --backend`); nil for any.
    public nonisolated func route(model: String? = nil, backend: String? = nil) throws(BackendError) -> BackendRoute {
        let routing = self.routing.withLock { $0 }
        let entries = routing.entries
        let requested = model.flatMap { $0.trimmingWhitespace().isEmpty ? nil : $0 }
        var candidates = entries
        if let backend, !backend.isEmpty {
            guard let entry = entries.first(where: { $0.backend.name == backend }) else {
                let names = entries.map(\.backend.name).joined(separator: ", ")
                throw BackendError(
                    .unavailable,
                    "No backend \"\(backend)\" is configured (configured: \(names.isEmpty ? "none" : names)); check [backends] in config.toml.",
                    backend: backend
                )
            }
            guard entry.state == .ready else {
                let why = entry.lastError?.message ?? "it has not been detected yet"
                throw BackendError(.unavailable, "The \(backend) backend is not ready: \(why)", backend: backend)
            }
            candidates = [entry]
        }
        let ready = candidates.filter { $0.state == .ready }
        guard !ready.isEmpty else { throw Self.noBackendReady(entries) }

        let wanted = requested ?? (routing.defaultModel.isEmpty ? nil : routing.defaultModel)
        if let wanted {
            for entry in ready {
                if let listed = entry.models.first(where: { ModelName.matches(requested: wanted, listed: $0) }) {
                    return BackendRoute(backend: entry.backend, model: listed, entryID: entry.id, metrics: entry.metrics)
                }
            }
            throw Self.modelNotFound(wanted, isDefault: requested == nil, ready: ready)
        }
        for entry in ready {
            if let first = entry.models.first {
                return BackendRoute(backend: entry.backend, model: first, entryID: entry.id, metrics: entry.metrics)
            }
        }
        throw BackendError(
            .modelNotFound,
            "No ready backend lists any model (ready: \(ready.map(\.backend.name).joined(separator: ", "))); pull or load a model first.",
            backend: ready.count == 1 ? ready.first?.backend.name : nil
        )
    }

    private static func noBackendReady(_ entries: [Entry]) -> BackendError {
        if entries.isEmpty {
            return BackendError(.unavailable, "No inference backend is configured; set [backends] in config.toml.")
        }
        let reasons = entries.map { entry in
            "\(entry.backend.name): \(entry.lastError?.message ?? "not detected yet")"
        }
        return BackendError(
            .unavailable,
            "No inference backend is ready (\(reasons.joined(separator: "; "))). Start one or fix [backends] in config.toml."
        )
    }

    private static func modelNotFound(_ model: String, isDefault: Bool, ready: [Entry]) -> BackendError {
        var available: [String] = []
        for entry in ready {
            for listed in entry.models {
                available.append("\(listed) (\(entry.backend.name))")
            }
        }
        let shown = available.prefix(12).joined(separator: ", ")
        let more = available.count > 12 ? ", and \(available.count - 12) more" : ""
        let list = available.isEmpty ? "none" : shown + more
        let what = isDefault ? "The default model \"\(model)\" from [backends]" : "The model \"\(model)\""
        return BackendError(
            .modelNotFound,
            "\(what) is not served by any ready backend; available: \(list)."
        )
    }

    // MARK: Inference

    /// Runs one inference on a route, counting it in the metrics and noticing a backend that went
    /// down. `onToken` runs where the backend reads the response (see ``InferenceBackend``).
    public nonisolated func generate(
        _ request: InferenceRequest,
        on route: BackendRoute,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        var request = request
        request.model = route.model
        do {
            let summary = try await route.backend.generate(request, onToken: onToken)
            route.metrics.succeeded(summary)
            return summary
        } catch {
            route.metrics.failed(error.code)
            logger.debug(
                "Inference request failed",
                metadata: [
                    "backend.name": "\(route.backendName)",
                    "error.code": "\(error.code.rawValue)",
                    "error.message": "\(error.message)",
                ]
            )
            await noteFailure(route, error)
            throw error
        }
    }

    /// Streams one inference on a route: `.token` events, then `.finished`. Errors are
    /// ``BackendError``s; stopping the iteration aborts the request.
    public nonisolated func stream(
        _ request: InferenceRequest,
        on route: BackendRoute
    ) -> AsyncThrowingStream<InferenceEvent, any Error> {
        makeInferenceStream { continuation throws(BackendError) in
            let summary = try await self.generate(request, on: route) { continuation.yield(.token($0)) }
            continuation.yield(
                .finished(summary.finishReason, promptTokens: summary.promptTokens, completionTokens: summary.completionTokens)
            )
        }
    }

    /// Routes by `request.model` (and `backend`) and streams; a routing error is the stream's
    /// error.
    public nonisolated func stream(
        _ request: InferenceRequest,
        backend: String? = nil
    ) -> AsyncThrowingStream<InferenceEvent, any Error> {
        makeInferenceStream { continuation throws(BackendError) in
            let route = try self.route(model: request.model, backend: backend)
            let summary = try await self.generate(request, on: route) { continuation.yield(.token($0)) }
            continuation.yield(
                .finished(summary.finishReason, promptTokens: summary.promptTokens, completionTokens: summary.completionTokens)
            )
        }
    }

    /// Routes by `request.model` (and `backend`) and returns the whole output.
    public nonisolated func complete(
        _ request: InferenceRequest,
        backend: String? = nil
    ) async throws(BackendError) -> InferenceResult {
        let route = try self.route(model: request.model, backend: backend)
        let start = ContinuousClock.now
        let text = TextCollector()
        let summary = try await generate(request, on: route) { text.append($0) }
        return InferenceResult(
            text: text.take(),
            finishReason: summary.finishReason,
            promptTokens: summary.promptTokens,
            completionTokens: summary.completionTokens,
            backend: route.backendName,
            model: route.model,
            timeToFirstToken: summary.timeToFirstToken,
            duration: ContinuousClock.now - start
        )
    }
}
