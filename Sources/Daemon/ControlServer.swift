public import ControlProtocol
public import Logging
public import NIOCore
import NIOPosix
import PylonBasics
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers control requests. The daemon implements it; the server does the socket and the framing.
///
/// `Ping` never reaches the handler: the server answers it at once, so `pylon start` sees the daemon
/// alive while the rest still starts. `Status` should be answered from in-memory state, without
/// waiting for relays or backends.
public protocol ControlHandler: Sendable {
    /// Answers `request` through `reply`: once with a final response, or, for a streaming
    /// `SubmitJob`, with `Token`s and then one final response. Returning without a final response
    /// makes the server answer `{"Error": ...}`; so does throwing (the error's description is sent,
    /// so throw errors whose description a user may read).
    func handle(_ request: ControlRequest, reply: ControlReply) async throws
}

/// Writes the responses to one request.
public final class ControlReply: Sendable {
    private let write: @Sendable (ControlResponse) async throws -> Void
    private let answered: Mutex<Bool>

    init(write: @escaping @Sendable (ControlResponse) async throws -> Void) {
        self.write = write
        self.answered = Mutex(false)
    }

    /// Sends `response`. After a final response (anything but `Token`) the request is answered and
    /// further calls throw.
    ///
    /// - Throws: when the client has gone away (stop the work) or the request is already answered.
    public func callAsFunction(_ response: ControlResponse) async throws {
        let alreadyAnswered = answered.withLock { answered in
            defer { if response.isFinal { answered = true } }
            return answered
        }
        if alreadyAnswered {
            throw ControlServerError(.invalidState, "the request was already answered; \(response.name) dropped")
        }
        try await write(response)
    }

    /// Whether a final response has been sent.
    public var isAnswered: Bool { answered.withLock { $0 } }
}

/// The daemon's control socket (SPEC §5): a Unix socket serving newline-delimited JSON, several
/// requests per connection, many connections at once.
///
/// Starting (``bind()``, or the first step of ``run()``) checks for a stale socket by dialling it,
/// binds with mode 0600 before listening, and fails clearly when another daemon listens there.
/// ``run()`` serves until graceful shutdown or cancellation, then stops accepting, closes the open
/// connections and removes the socket file if it is still the one it bound.
public final class ControlServer: Service, Sendable {
    public struct Configuration: Sendable {
        /// Longer request lines get `{"Error": "request too large ..."}` and the connection closes.
        public var maximumRequestLength: Int
        /// The socket file's mode.
        public var socketMode: UInt32
        /// The event loops to serve on; `nil` uses NIO's shared singleton group.
        public var eventLoopGroup: (any EventLoopGroup)?

        public init(
            maximumRequestLength: Int = ControlLine.defaultMaximumRequestLength, socketMode: UInt32 = 0o600,
            eventLoopGroup: (any EventLoopGroup)? = nil
        ) {
            self.maximumRequestLength = maximumRequestLength
            self.socketMode = socketMode
            self.eventLoopGroup = eventLoopGroup
        }
    }

    typealias Connection = NIOAsyncChannel<ControlFrame, ByteBuffer>
    typealias Listener = NIOAsyncChannel<Connection, Never>

    private enum Phase {
        case idle
        case binding
        case bound(Listener, ControlSocketFile.Identity)
        case running
        case finished
    }

    public let socketPath: String
    private let handler: any ControlHandler
    private let configuration: Configuration
    private let logger: Logger
    // Guards the start-up phase, so that `bind()` and `run()` each happen once.
    private let phase: Mutex<Phase>

    public init(socketPath: String, handler: any ControlHandler, configuration: Configuration = Configuration(), logger: Logger) {
        self.socketPath = socketPath
        self.handler = handler
        self.configuration = configuration
        self.logger = logger
        self.phase = Mutex(.idle)
    }

    /// Binds the socket now, so that a start-up error ("another daemon is listening") surfaces
    /// before the service group runs. Optional: ``run()`` binds when this was not called.
    public func bind() async throws {
        let proceed = phase.withLock { phase in
            guard case .idle = phase else { return false }
            phase = .binding
            return true
        }
        guard proceed else { throw ControlServerError(.invalidState, "the control server is already bound") }
        do {
            let (listener, identity) = try await makeListener()
            phase.withLock { $0 = .bound(listener, identity) }
        } catch {
            phase.withLock { $0 = .idle }
            throw error
        }
    }

    public func run() async throws {
        enum Start {
            case bound(Listener, ControlSocketFile.Identity)
            case needsBinding
            case invalid
        }
        let start: Start = phase.withLock { phase in
            switch phase {
            case .bound(let listener, let identity):
                phase = .running
                return .bound(listener, identity)
            case .idle:
                phase = .binding
                return .needsBinding
            case .binding, .running, .finished:
                return .invalid
            }
        }
        let listener: Listener
        let identity: ControlSocketFile.Identity
        switch start {
        case .bound(let boundListener, let boundIdentity):
            (listener, identity) = (boundListener, boundIdentity)
        case .needsBinding:
            do {
                (listener, identity) = try await makeListener()
                phase.withLock { $0 = .running }
            } catch {
                phase.withLock { $0 = .idle }
                throw error
            }
        case .invalid:
            throw ControlServerError(.invalidState, "the control server runs already or has finished")
        }

        logger.info("control socket listening", metadata: ["control.socket": "\(socketPath)"])
        defer {
            ControlSocketFile.remove(socketPath, ifStill: identity)
            phase.withLock { $0 = .finished }
            logger.info("control socket closed", metadata: ["control.socket": "\(socketPath)"])
        }
        try await withThrowingDiscardingTaskGroup { group in
            // A graceful shutdown closes the listening socket, which ends the connection sequence
            // after it has handed out every connection already accepted: each one must be served
            // (or closed) by `executeThenClose`, never dropped, or NIO traps.
            try await withGracefulShutdownHandler {
                try await listener.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            } onGracefulShutdown: {
                listener.channel.close(promise: nil)
            }
            // Not accepting any more: end the open connections (their in-flight work is cancelled).
            group.cancelAll()
        }
    }

    private func makeListener() async throws -> (Listener, ControlSocketFile.Identity) {
        try ControlSocketFile.clearStale(socketPath)
        let (descriptor, identity) = try ControlSocketFile.bind(socketPath, mode: mode_t(configuration.socketMode))
        let maximumLength = configuration.maximumRequestLength
        do {
            let listener = try await ServerBootstrap(group: configuration.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 128)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .bind(descriptor) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(ControlLineDecoder(maximumLength: maximumLength)))
                        return try Connection(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
            return (listener, identity)
        } catch {
            ControlSocketFile.remove(socketPath, ifStill: identity)
            throw ControlServerError(.bindFailed, "cannot listen on the control socket \(socketPath): \(error)")
        }
    }

    /// Serves one connection: each line is one request, answered in order.
    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                let send: @Sendable (ControlResponse) async throws -> Void = { response in
                    try await outbound.write(ByteBuffer(bytes: ControlLine.encode(response)))
                }
                var closing = false
                for try await frame in inbound {
                    // After a too-long line the output is half-closed and input is discarded until
                    // the client closes: closing with unread input would reset the connection and
                    // lose the error line.
                    if closing { continue }
                    switch frame {
                    case .tooLong:
                        try await send(.error("request too large: a request line may be at most \(configuration.maximumRequestLength) bytes"))
                        outbound.finish()
                        closing = true
                    case .line(let line):
                        let bytes = line.readableBytesView
                        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                        try await answer(bytes, send: send)
                    }
                }
            }
        } catch is CancellationError {
            // The server is stopping.
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func answer(_ line: ByteBufferView, send: @escaping @Sendable (ControlResponse) async throws -> Void) async throws {
        let request: ControlRequest
        do {
            request = try ControlLine.decodeRequest(line)
        } catch {
            logger.debug("invalid control request", metadata: ["error": "\(error.message)"])
            try await send(.error(error.message))
            return
        }
        if request == .ping {
            try await send(.pong)
            return
        }
        let reply = ControlReply(write: send)
        do {
            try await handler.handle(request, reply: reply)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if reply.isAnswered { throw error }  // the write failed: the client is gone
            logger.warning("control request failed", metadata: ["control.request": "\(request.name)", "error": "\(error)"])
            try await send(.error(String(describing: error)))
            return
        }
        if !reply.isAnswered {
            logger.error("control handler returned no answer", metadata: ["control.request": "\(request.name)"])
            try await send(.error("internal error: the daemon gave no answer to \(request.name)"))
        }
    }
}

/// What the line decoder passes on: a line (without its `\n`), or the news that a line was too long.
enum ControlFrame: Sendable {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into lines with ``LineSplitter``, bounded so a client cannot make the
/// daemon buffer without limit. A last line without `\n` before the client half-closes counts.
/// After a line that is too long, everything else is discarded.
struct ControlLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ControlFrame

    private var splitter: LineSplitter<ByteBuffer>
    private var overflowed = false

    init(maximumLength: Int) {
        self.splitter = LineSplitter(maxLineBytes: maximumLength)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        do {
            guard let line = try splitter.nextLine(from: &buffer) else { return .needMoreData }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        } catch {
            overflowed = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.tooLong))
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !overflowed, let rest = splitter.finish() {
            context.fireChannelRead(wrapInboundOut(.line(rest)))
        }
        return .needMoreData
    }
}
