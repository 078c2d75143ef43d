import AsyncHTTPClient
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import PylonAsync
import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns the lines of a streamed chat response into output text and a finish reason: one per
/// wire format (Ollama NDJSON, OpenAI SSE). Owned by one ``ChatStreamReader``.
protocol ChatStreamDecoder: SendableMetatype {
    /// Consumes one line of the body (without its line ending); returns the output it carries.
    mutating func decode(line: ByteBuffer) throws(BackendError) -> String?
    /// The server said the generation is over; the rest of the body is drained unread.
    var isDone: Bool { get }
    /// The answer is complete as the protocol defines it (Ollama: the `done` line; OpenAI: a
    /// `finish_reason` and `[DONE]`), so a connection that breaks afterwards loses nothing.
    var isComplete: Bool { get }
    /// The body ended: returns output held back until now (a non-streamed answer), or throws when
    /// the stream ended before the server said it was done.
    mutating func end() throws(BackendError) -> String?
    var finishReason: FinishReason { get }
    var promptTokens: Int? { get }
    var completionTokens: Int? { get }
}

/// One HTTP inference server as seen by a backend: its name for messages, its base URL, the shared
/// client, timeouts and limits. Runs probes and streaming calls and maps every failure onto a
/// ``BackendError``.
struct HTTPTransport: Sendable {
    let client: HTTPClient
    /// The `backend` label: `ollama`, `llamacpp`, `openai`.
    let backend: String
    /// How messages name the server: "Ollama", "the llama.cpp server".
    let serverName: String
    /// `serverName` at the start of a sentence.
    var subject: String { serverName.prefix(1).uppercased() + serverName.dropFirst() }
    /// The root URL (no trailing slash, no `/v1`), or nil when the configured URL is invalid.
    let root: String?
    /// The URL as configured, for messages and status.
    let configuredURL: String
    let timeouts: BackendTimeouts
    let limits: BackendLimits

    /// `root + path`, or an `unavailable` error for an invalid configured URL.
    func url(_ path: String) throws(BackendError) -> String {
        guard let root else { throw invalidURL() }
        return root + path
    }

    /// The error for a configured URL that cannot be used.
    private func invalidURL(cause: (any Error)? = nil) -> BackendError {
        let what = root == nil ? "is not an http(s) URL" : "is not valid"
        return BackendError(
            .unavailable, "The \(backend) URL \"\(configuredURL)\" \(what); fix [backends] in config.toml.", backend: backend,
            cause: cause)
    }

    /// A path on the server with its URL parsed once, for the request every job makes (parsing
    /// a URL with Foundation for each request showed in the provider's profile).
    struct Endpoint: Sendable {
        let path: String
        /// nil when the configured URL, with the path, is not a valid URL.
        let url: URL?
    }

    func endpoint(_ path: String) -> Endpoint {
        Endpoint(path: path, url: root.flatMap { URL(string: $0 + path) })
    }

    /// A POST of `body` to the endpoint, or an `unavailable` error for an invalid configured URL.
    func post(_ endpoint: Endpoint, headers: HTTPHeaders, body: ByteBuffer) throws(BackendError) -> HTTPClient.Request {
        guard let url = endpoint.url else { throw invalidURL() }
        do {
            return try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .byteBuffer(body))
        } catch {
            throw invalidURL(cause: error)
        }
    }

    // MARK: Probes

    /// GETs `path` within the probe timeout and decodes the JSON answer.
    func getJSON<T: Decodable & Sendable>(
        _ path: String,
        as type: T.Type,
        headers: HTTPHeaders = [:],
        classify: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> BackendError
    ) async throws(BackendError) -> T {
        let body = try await get(path, headers: headers, classify: classify)
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw BackendError(
                .badResponse,
                "\(subject) at \(configuredURL) answered \(path) with something that is not the expected JSON; check that the URL points at \(serverName).",
                backend: backend,
                cause: error
            )
        }
    }

    /// GETs `path` within the probe timeout; returns the body of a 2xx answer.
    func get(
        _ path: String,
        headers: HTTPHeaders = [:],
        classify: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> BackendError
    ) async throws(BackendError) -> ByteBuffer {
        var prepared = HTTPClientRequest(url: try url(path))
        prepared.headers = headers
        prepared.headers.replaceOrAdd(name: "user-agent", value: "pylon")
        let request = prepared
        let limit = limits.maxProbeBytes
        let timeout = timeouts.probe
        let client = self.client
        let outcome: ProbeOutcome
        do {
            outcome = try await withThrowingTaskGroup(of: ProbeOutcome.self) { group in
                group.addTask {
                    let response: HTTPClientResponse
                    do {
                        response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
                    } catch {
                        return .failed(error, responded: false)
                    }
                    do {
                        let body = try await response.body.collect(upTo: limit)
                        return .answered(response.status, body)
                    } catch {
                        return .failed(error, responded: true)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw CancellationError() }
                return first
            }
        } catch {
            throw transportError(error, responded: false)
        }
        switch outcome {
        case .timedOut:
            throw BackendError(
                .timeout,
                "\(subject) at \(configuredURL) did not answer \(path) within \(timeout.secondsText); check that it runs and is not overloaded.",
                backend: backend
            )
        case .failed(let error, let responded):
            throw transportError(error, responded: responded)
        case .answered(let status, let body):
            guard (200..<300).contains(status.code) else { throw classify(status, body) }
            return body
        }
    }

    private enum ProbeOutcome: Sendable {
        case answered(HTTPResponseStatus, ByteBuffer)
        case failed(any Error, responded: Bool)
        case timedOut
    }

    // MARK: Streaming

    /// POSTs a chat request and streams the answer through a decoder, under the first-token, idle
    /// and total timeouts. `onToken` runs on the connection's event loop, once per piece of output
    /// (see ``ChatStreamReader``).
    func stream<StreamDecoder: ChatStreamDecoder>(
        _ request: HTTPClient.Request,
        deadline: ContinuousClock.Instant?,
        decoder makeDecoder: @escaping @Sendable (HTTPHeaders) -> StreamDecoder,
        classify: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> BackendError,
        onToken: @escaping @Sendable (String) -> Void
    ) async throws(BackendError) -> InferenceSummary {
        let start = ContinuousClock.now
        let watchdog = Watchdog(
            start: start, firstToken: timeouts.firstToken, idle: timeouts.idle, end: deadline ?? start + timeouts.total)
        let reader = ChatStreamReader(
            start: start, watchdog: watchdog, maxLineBytes: limits.maxLineBytes, makeDecoder: makeDecoder, classify: classify,
            onToken: onToken)
        // The watchdog covers the whole call, the wait for the response head included.
        let task = client.execute(request: request, delegate: reader, eventLoop: .indifferent)
        watchdog.arm { outcome in task.fail(reason: WatchdogFired(outcome: outcome)) }
        defer { watchdog.disarm() }
        do {
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch let fired as WatchdogFired {
            switch fired.outcome {
            case .finished(let summary): return summary
            case .expired(let phase): throw timeoutError(phase)
            }
        } catch let error as BackendError {
            throw error
        } catch is LineTooLong {
            throw BackendError(
                .badResponse,
                "\(subject) at \(configuredURL) sent a line longer than \(limits.maxLineBytes) bytes; pylon stopped reading.",
                backend: backend
            )
        } catch {
            // A connection closed uncleanly after a complete answer costs nothing (so does a
            // server cut off for talking on after it); before, or after an end marker with no
            // finish (llama-cpp-python's interrupted request), it is a broken response.
            if !Task.isCancelled, !Self.isCancellation(error), let summary = reader.completeSummary { return summary }
            if error is StopReading, let summary = reader.doneSummary { return summary }
            throw transportError(error, responded: reader.responded)
        }
    }

    private static func isCancellation(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let error = error as? HTTPClientError, error == .cancelled { return true }
        return false
    }

    // MARK: Errors

    func timeoutError(_ phase: Watchdog.Phase) -> BackendError {
        switch phase {
        case .firstToken:
            BackendError(
                .timeout,
                "\(subject) at \(configuredURL) sent no output within \(timeouts.firstToken.secondsText); the model may still be loading or the server is overloaded.",
                backend: backend
            )
        case .idle:
            BackendError(
                .timeout,
                "\(subject) at \(configuredURL) stopped sending output for \(timeouts.idle.secondsText) in the middle of a response.",
                backend: backend
            )
        case .deadline, .drain:
            BackendError(
                .timeout,
                "\(subject) at \(configuredURL) did not finish before the request's deadline.",
                backend: backend
            )
        }
    }

    /// Maps an error from the HTTP client (or a task) onto a ``BackendError``. `responded`: whether
    /// a response head had arrived, which tells a refused connection from a broken stream.
    func transportError(_ error: any Error, responded: Bool) -> BackendError {
        if let error = error as? BackendError { return error }
        if error is CancellationError {
            return BackendError(.cancelled, "The request to \(serverName) was cancelled.", backend: backend, cause: error)
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled:
                return BackendError(.cancelled, "The request to \(serverName) was cancelled.", backend: backend, cause: error)
            case .connectTimeout:
                return BackendError(
                    .timeout,
                    "Could not connect to \(serverName) at \(configuredURL) within \(timeouts.connect.secondsText); check that the host is up.",
                    backend: backend,
                    cause: error
                )
            case .deadlineExceeded:
                return timeoutError(.firstToken)
            case .alreadyShutdown:
                return BackendError(
                    .unavailable,
                    "The backend registry has shut down; no request to \(serverName) can be made.",
                    backend: backend,
                    cause: error
                )
            case .invalidURL, .emptyHost, .emptyScheme:
                return BackendError(
                    .unavailable,
                    "The \(backend) URL \"\(configuredURL)\" is not valid; fix [backends] in config.toml.",
                    backend: backend,
                    cause: error
                )
            default:
                break
            }
        }
        if responded {
            return BackendError(
                .badResponse,
                "\(subject) at \(configuredURL) broke off the response; check its log.",
                backend: backend,
                cause: error
            )
        }
        return BackendError(
            .unreachable,
            "Could not reach \(serverName) at \(configuredURL); check that it runs and that the URL in [backends] is right.",
            backend: backend,
            cause: error
        )
    }

    /// The error for a non-2xx answer, with the server's own error text (shortened) when it gave
    /// one. `modelNotFound` when the server says the model does not exist.
    func statusError(_ status: HTTPResponseStatus, body: ByteBuffer, path: String, apiKeyEnv: String? = nil) -> BackendError {
        let detail = ServerErrorBody.message(in: body)
        let suffix = detail.map { ": \($0)" } ?? ""
        if status.code == 404, let detail, detail.lowercased().contains("model") {
            return BackendError(
                .modelNotFound,
                "\(subject) at \(configuredURL) does not have the requested model\(suffix)",
                backend: backend,
                httpStatus: Int(status.code)
            )
        }
        let hint: String
        switch status.code {
        case 401, 403:
            if let apiKeyEnv {
                hint = "check the API key in the environment variable \(apiKeyEnv)"
            } else {
                hint = "the server wants credentials pylon does not have"
            }
        case 404: hint = "check that the URL points at \(serverName)"
        case 429: hint = "the server is rate limiting; try again later"
        case 500...599: hint = "check the server's log"
        default: hint = "check the server's log"
        }
        return BackendError(
            .httpStatus,
            "\(subject) at \(configuredURL) answered \(path) with HTTP \(status.code)\(suffix) (\(hint)).",
            backend: backend,
            httpStatus: Int(status.code)
        )
    }
}

/// The error text in a server's error body: Ollama `{"error": "…"}`, OpenAI and llama.cpp
/// `{"error": {"message": "…"}}`. Shortened and stripped of control characters, since it is
/// untrusted and ends up in logs.
enum ServerErrorBody {
    private struct Envelope: Decodable {
        let error: ErrorField?
        let message: String?
    }

    private enum ErrorField: Decodable {
        case text(String)
        case object(message: String?)

        private struct Object: Decodable { let message: String? }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .object(message: try container.decode(Object.self).message)
            }
        }
    }

    static func message(in body: ByteBuffer) -> String? {
        guard body.readableBytes > 0, let envelope = try? JSONDecoder().decode(Envelope.self, from: body) else {
            return nil
        }
        let raw: String?
        switch envelope.error {
        case .text(let text): raw = text
        case .object(let message): raw = message
        case nil: raw = envelope.message
        }
        return raw.flatMap(sanitize)
    }

    /// At most 200 printable characters.
    static func sanitize(_ text: String) -> String? {
        var out = ""
        for scalar in text.unicodeScalars {
            if out.unicodeScalars.count >= 200 {
                out += "…"
                break
            }
            if scalar.properties.generalCategory == .control {
                out.unicodeScalars.append(" ")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        let trimmed = out.trimmingWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }
}
