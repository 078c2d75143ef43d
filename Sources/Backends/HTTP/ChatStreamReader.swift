import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import PylonAsync
import PylonBasics
import Synchronization

/// Reads one streamed chat answer where it arrives: AsyncHTTPClient calls a delegate on the
/// connection's event loop for the head and each piece of the body, and the reader splits the
/// lines, decodes them and hands each piece of output to `onToken` right there. No task, async
/// sequence or thread hop per request or per chunk; the caller awaits one future.
///
/// It reports progress to the call's ``Watchdog`` and fails the request with what the decoder
/// refuses (a ``BackendError``) or a ``LineTooLong``; ``HTTPTransport`` maps that and what the
/// transport itself reports (a refused or broken connection), knowing whether a response started.
final class ChatStreamReader<StreamDecoder: ChatStreamDecoder>: HTTPClientResponseDelegate, Sendable {
    typealias Response = InferenceSummary

    private struct State {
        /// Set from the head of a 2xx answer.
        var decoder: StreamDecoder?
        var splitter: LineSplitter<ByteBuffer>
        /// The status of a non-2xx answer and its body, kept (bounded) for the error.
        var refusal: (status: HTTPResponseStatus, body: ByteBuffer)?
        var responded = false
        var pieces = 0
        var firstTokenAt: ContinuousClock.Instant?
        /// Bytes read after the server said it was done.
        var drained = 0
    }

    /// What to tell the watchdog, or the request, after a piece of the body.
    private enum Progress {
        case none
        case activity
        case finished(InferenceSummary)
        case fail(any Error)
    }

    /// How much of the body after the end marker is read (so the connection can be reused)
    /// before a server that keeps talking is cut off, and how much of an error body is kept.
    static var drainLimit: Int { 64 * 1024 }

    private let state: Mutex<State>
    private let start: ContinuousClock.Instant
    private let watchdog: Watchdog
    private let makeDecoder: @Sendable (HTTPHeaders) -> StreamDecoder
    private let classify: @Sendable (HTTPResponseStatus, ByteBuffer) -> BackendError
    /// Called with the reader's lock held, on the event loop; it must not call back into the reader.
    private let onToken: @Sendable (String) -> Void

    init(
        start: ContinuousClock.Instant,
        watchdog: Watchdog,
        maxLineBytes: Int,
        makeDecoder: @escaping @Sendable (HTTPHeaders) -> StreamDecoder,
        classify: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> BackendError,
        onToken: @escaping @Sendable (String) -> Void
    ) {
        self.start = start
        self.watchdog = watchdog
        self.makeDecoder = makeDecoder
        self.classify = classify
        self.onToken = onToken
        self.state = Mutex(State(splitter: LineSplitter<ByteBuffer>(maxLineBytes: maxLineBytes)))
    }

    /// Whether a response head arrived (a failure after it is a broken response, not an
    /// unreachable server).
    var responded: Bool { state.withLock { $0.responded } }

    /// The summary of an answer that is complete as its protocol defines it, or nil: a connection
    /// that breaks after a complete answer loses nothing.
    var completeSummary: InferenceSummary? {
        state.withLock { state in
            guard let decoder = state.decoder, decoder.isComplete else { return nil }
            return summary(state, decoder)
        }
    }

    // MARK: HTTPClientResponseDelegate (on the request's event loop)

    func didReceiveHead(task: HTTPClient.Task<InferenceSummary>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { state in
            state.responded = true
            if (200..<300).contains(head.status.code) {
                state.decoder = makeDecoder(head.headers)
            } else {
                state.refusal = (head.status, ByteBuffer())
            }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<InferenceSummary>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        var chunk = buffer
        let progress = state.withLock { state in read(&chunk, into: &state) }
        switch progress {
        case .none: break
        case .activity: watchdog.activity()
        case .finished(let summary): watchdog.finished(summary)
        case .fail(let error):
            // A failed future is how a delegate ends the request from here: AsyncHTTPClient
            // closes the connection and fails the task with the error at once. (`task.fail`
            // while a part is being delivered only takes effect once the body has ended.)
            return task.eventLoop.makeFailedFuture(error)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<InferenceSummary>, _ error: any Error) {
        // The request's future fails with the error; HTTPTransport maps it.
    }

    func didFinishRequest(task: HTTPClient.Task<InferenceSummary>) throws -> InferenceSummary {
        try state.withLock { state throws(BackendError) in
            if let refusal = state.refusal { throw classify(refusal.status, refusal.body) }
            return try finish(&state)
        }
    }

    /// The summary of an answer whose server said it was done, after the request was cut off for
    /// sending on (``StopReading``).
    var doneSummary: InferenceSummary? {
        state.withLock { state in
            guard state.decoder?.isDone == true else { return nil }
            return try? finish(&state)
        }
    }

    /// The body ended: the last line without a line ending, and output the decoder held back.
    private func finish(_ state: inout State) throws(BackendError) -> InferenceSummary {
        guard var decoder = state.decoder else {
            throw BackendError(.badResponse, "The response ended before its head.", backend: nil)
        }
        defer { state.decoder = decoder }
        if !decoder.isDone, let last = state.splitter.finish(), let text = try decoder.decode(line: last) {
            emit(text, &state)
        }
        if let text = try decoder.end() { emit(text, &state) }
        return summary(state, decoder)
    }

    // MARK: Reading

    private func read(_ chunk: inout ByteBuffer, into state: inout State) -> Progress {
        if state.refusal != nil {
            let room = Self.drainLimit - (state.refusal?.body.readableBytes ?? 0)
            if room > 0, var part = chunk.readSlice(length: min(room, chunk.readableBytes)) {
                state.refusal?.body.writeBuffer(&part)
            }
            return .none
        }
        guard var decoder = state.decoder else { return .none }
        defer { state.decoder = decoder }
        if decoder.isDone {
            state.drained += chunk.readableBytes
            return state.drained > Self.drainLimit ? .fail(StopReading()) : .none
        }
        do {
            while let line = try state.splitter.nextLine(from: &chunk) {
                if let text = try decoder.decode(line: line) { emit(text, &state) }
                if decoder.isDone { break }
            }
        } catch {
            return .fail(error)
        }
        if decoder.isDone { return .finished(summary(state, decoder)) }
        // The idle deadline runs once output has started; before, the first-token one does.
        return state.firstTokenAt != nil ? .activity : .none
    }

    private func emit(_ text: String, _ state: inout State) {
        guard !text.isEmpty else { return }
        state.pieces += 1
        if state.firstTokenAt == nil { state.firstTokenAt = .now }
        onToken(text)
    }

    private func summary(_ state: State, _ decoder: StreamDecoder) -> InferenceSummary {
        InferenceSummary(
            finishReason: decoder.finishReason,
            promptTokens: decoder.promptTokens ?? 0,
            completionTokens: decoder.completionTokens ?? state.pieces,
            timeToFirstToken: state.firstTokenAt.map { $0 - start }
        )
    }
}

/// Ends a request whose answer is complete while its server keeps sending.
struct StopReading: Error {}

/// The watchdog ended the request: a deadline passed, or reading after a complete answer took
/// too long.
struct WatchdogFired: Error {
    let outcome: Watchdog.Outcome
}
