import PylonBasics
#if canImport(Glibc)
    import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import NostrCore
import PylonAsync

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a relay's connection ended when it ended cleanly: the relay's close frame, if it sent one.
struct RelayClose: Sendable, CustomStringConvertible {
    let code: WebSocketErrorCode?
    let reason: String?

    var description: String {
        let code = code.map { "\(UInt16(webSocketErrorCode: $0))" } ?? "no code"
        return reason.map { "\(code): \($0)" } ?? code
    }
}

/// Why a relay's WebSocket failed (the connection's own faults, not the relay's messages).
enum RelaySocketError: Error, Sendable, CustomStringConvertible {
    case notUpgraded
    case handshakeTimedOut(Duration)
    case pingUnanswered(Duration)
    case messageTooLarge(limit: Int)
    case notUTF8
    case protocolViolation(String)

    var description: String {
        switch self {
        case .notUpgraded: "the server did not accept the WebSocket upgrade"
        case .handshakeTimedOut(let limit): "no WebSocket handshake within \(limit)"
        case .pingUnanswered(let interval): "no answer to a ping within \(interval)"
        case .messageTooLarge(let limit): "the relay sent a message larger than \(limit) bytes"
        case .notUTF8: "the relay sent a text message that is not UTF-8"
        case .protocolViolation(let what): "protocol violation: \(what)"
        }
    }
}

/// The owner of a ``RelaySocket``: gets the relay's text messages on the socket's event loop.
protocol RelaySocketDelegate: AnyObject, Sendable {
    /// The text messages one read brought, in order. Returning true holds further reads (and
    /// deliveries) until `resume` is called, from any thread.
    func socketReceived(_ messages: [String], resume: @escaping @Sendable () -> Void) -> Bool
}

/// A client WebSocket to one relay on swift-nio's own WebSocket codec (plain or TLS).
///
/// Messages are read, and written, on the channel's event loop by a channel handler: a message
/// reaches its reader without an async sequence, a task switch or a writer task in between. Pings
/// go out every `pingInterval`; a ping still unanswered at the next one ends the connection.
final class RelaySocket: Sendable {
    struct Options: Sendable {
        var maxMessageSize: Int
        var pingInterval: Duration
        /// For the TCP connection and, separately, for the WebSocket handshake.
        var connectTimeout: Duration
    }

    let eventLoop: any EventLoop
    private let channel: any Channel
    private let handler: NIOLoopBound<RelayFrameHandler>
    /// Completes when the connection is gone: with the relay's close frame (nil when it sent
    /// none) or with the error that ended it.
    let closed: EventLoopFuture<RelayClose?>

    private struct Upgraded: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<RelayFrameHandler>
        let closed: EventLoopFuture<RelayClose?>
    }

    private init(_ upgraded: Upgraded) {
        channel = upgraded.channel
        eventLoop = upgraded.channel.eventLoop
        handler = upgraded.handler
        closed = upgraded.closed
    }

    /// TLS settings for every `wss://` relay, made once (loading the system's trust roots).
    private static let tlsContext = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// Connects, upgrades to WebSocket and returns once the relay accepted; messages may reach
    /// `delegate` before this returns.
    static func connect(
        to url: RelayURL, options: Options, group: any EventLoopGroup, delegate: any RelaySocketDelegate
    ) async throws -> RelaySocket {
        guard let components = url.components, let host = components.encodedHost else {
            throw RelayPoolError(.invalidURL, "\(url) is not a relay URL")
        }
        let secure = components.scheme == "wss"
        let port = components.port ?? (secure ? 443 : 80)
        let tls = secure ? try tlsContext.get() : nil
        let isAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let hostHeader = (host.contains(":") ? "[\(host)]" : host) + (components.port.map { ":\($0)" } ?? "")
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let target = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path

        let upgrade: EventLoopFuture<Upgraded?> = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(options.connectTimeout.nanoseconds))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgraded?>(
                        maxFrameSize: options.maxMessageSize, enableAutomaticErrorHandling: false  // the handler answers errors
                    ) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let closed = channel.eventLoop.makePromise(of: RelayClose?.self)
                            let handler = RelayFrameHandler(delegate: delegate, options: options, closed: closed)
                            do {
                                try channel.pipeline.syncOperations.addHandlers(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                        maxAccumulatedFrameSize: options.maxMessageSize),
                                    handler)
                            } catch {
                                closed.fail(error)  // the relay hung up in the middle of the upgrade
                                throw error
                            }
                            return Upgraded(
                                channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                                closed: closed.futureResult)
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: hostHeader)
                    var http = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                            upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers),
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededFuture(nil)
                            }))
                    // Frames that arrive with the 101 answer, in the same read, are the relay's first.
                    http.leftOverBytesStrategy = .forwardBytes
                    let upgraded = try pipeline.configureUpgradableHTTPClientPipeline(configuration: http)
                    // A server that takes the connection but never answers the upgrade.
                    let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(options.connectTimeout.nanoseconds)) {
                        channel.pipeline.fireErrorCaught(RelaySocketError.handshakeTimedOut(options.connectTimeout))
                        channel.close(promise: nil)
                    }
                    upgraded.whenComplete { _ in timeout.cancel() }
                    return upgraded
                }
            }
        guard let upgraded = try await upgrade.get() else { throw RelaySocketError.notUpgraded }
        return RelaySocket(upgraded)
    }

    /// Runs `work` on the socket's event loop: at once when called there, else queued.
    func onLoop(_ work: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop {
            work()
        } else {
            eventLoop.execute(work)
        }
    }

    /// Sends `texts` as text messages, in order, with one flush.
    func send(_ texts: [String]) {
        guard !texts.isEmpty else { return }
        onLoop { self.handler.value.send(texts) }
    }

    /// Says goodbye (a close frame), waits up to a second for the relay's, then closes.
    func close() async {
        eventLoop.execute { self.handler.value.close(code: .normalClosure, reason: "bye") }
        _ = try? await closed.get()
    }

    /// Closes the socket at once, without the closing handshake.
    func abort() {
        channel.close(promise: nil)
    }
}

/// The channel handler behind ``RelaySocket``: text frames in, text frames out, pings, the
/// closing handshake, and reads held while the delegate is busy with a burst.
final class RelayFrameHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Room left in front of each outgoing message for the frame header (at most 14 bytes), so the
    /// encoder writes header and text as one buffer.
    private static let headerRoom = 14

    private let delegate: any RelaySocketDelegate
    private let options: RelaySocket.Options
    private let closed: EventLoopPromise<RelayClose?>
    private var context: ChannelHandlerContext?
    private var batch: [String] = []
    private var readsHeld = false
    private var readWanted = false
    private var pingTimer: RepeatedTask?
    private var unansweredPing: ByteBuffer?
    private var closeSent = false
    /// Given to the delegate with each batch: lets reads go on, from any thread.
    private var resume: @Sendable () -> Void = {}
    private var relayClose: RelayClose?
    private var failure: (any Error)?
    private var finished = false

    init(delegate: any RelaySocketDelegate, options: RelaySocket.Options, closed: EventLoopPromise<RelayClose?>) {
        self.delegate = delegate
        self.options = options
        self.closed = closed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let interval = TimeAmount.nanoseconds(options.pingInterval.nanoseconds)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        resume = { eventLoop.execute { handler.value.resumeReads() } }
        pingTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            handler.value.ping()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        pingTimer?.cancel()
        pingTimer = nil
        resume = {}
        if let failure {
            closed.fail(failure)
        } else {
            closed.succeed(relayClose)
        }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            guard let text = String(validating: frame.unmaskedData.readableBytesView, as: UTF8.self) else {
                fail(RelaySocketError.notUTF8, code: .dataInconsistentWithMessage)
                return
            }
            batch.append(text)
        case .binary:
            break  // relays speak text (NIP-01)
        case .ping:
            guard frame.fin, frame.length <= 125 else {
                fail(RelaySocketError.protocolViolation("a fragmented or oversized ping"), code: .protocolError)
                return
            }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            if frame.unmaskedData == unansweredPing { unansweredPing = nil }
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode()
            let reason = data.readableBytes > 0 ? data.readString(length: data.readableBytes) : nil
            relayClose = RelayClose(code: code, reason: reason)
            // Answer with the relay's code, as RFC 6455 §5.5.1 asks (unless ours went first),
            // then hang up.
            close(code: code ?? .normalClosure, reason: nil, waitForAnswer: false)
        default:
            fail(RelaySocketError.protocolViolation("a frame with opcode \(frame.opcode)"), code: .protocolError)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        acknowledge(context)
        deliver()
        context.fireChannelReadComplete()
    }

    /// Acknowledges what was just read at once instead of up to 40 ms later (Linux).
    ///
    /// A connection that answers what it reads (a provider publishing feedback, a client
    /// publishing a request) is "interactive" to the kernel, which then delays the ACK of what it
    /// receives next, hoping to send it with an answer. When the next message from the relay is
    /// one that needs no answer (the OK to a publish), the ACK waits for the delayed-ACK timer,
    /// and a relay that writes without TCP_NODELAY (rust-nostr's, among others) holds its next
    /// small message to us until then (Nagle): a request that reaches the relay right after our
    /// last OK reaches us 40 ms late. TCP_QUICKACK sends the pending ACK now; the kernel clears
    /// it again by itself, so it is set after every read.
    private func acknowledge(_ context: ChannelHandlerContext) {
        #if os(Linux)
            try? context.channel.syncOptions?.setOption(.tcpQuickAck, value: 1)
        #endif
    }

    /// Hands the messages read so far to the delegate, unless it still holds reads.
    private func deliver() {
        guard !readsHeld, !batch.isEmpty else { return }
        let messages = batch
        batch.removeAll(keepingCapacity: true)
        readsHeld = delegate.socketReceived(messages, resume: resume)
    }

    private func resumeReads() {
        readsHeld = false
        deliver()
        if !readsHeld, readWanted, let context {
            readWanted = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if readsHeld {
            readWanted = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketError.invalidFrameLength:
            fail(RelaySocketError.messageTooLarge(limit: options.maxMessageSize), code: .messageTooLarge)
        case let error as NIOWebSocketFrameAggregator.Error:
            fail(RelaySocketError.protocolViolation("fragments out of order (\(error))"), code: .protocolError)
        case let error as NIOWebSocketError:
            fail(RelaySocketError.protocolViolation("\(error)"), code: .protocolError)
        default:
            if failure == nil { failure = error }
            context.close(promise: nil)
        }
    }

    /// Ends the connection for a fault of the relay's: a close frame with `code`, then the socket.
    private func fail(_ error: RelaySocketError, code: WebSocketErrorCode) {
        if failure == nil { failure = error }
        close(code: code, reason: nil, waitForAnswer: false)
    }

    // MARK: Writing

    func send(_ texts: [String]) {
        guard let context, !closeSent else { return }
        for text in texts {
            var buffer = context.channel.allocator.buffer(capacity: Self.headerRoom + text.utf8.count)
            buffer.moveWriterIndex(forwardBy: Self.headerRoom)
            buffer.moveReaderIndex(forwardBy: Self.headerRoom)
            buffer.writeString(text)
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey(), data: buffer)), promise: nil)
        }
        context.flush()
    }

    /// A client's frames are masked with an unpredictable key (RFC 6455 §5.3).
    private func maskKey() -> WebSocketMaskingKey {
        var generator = StreamRandom.Generator()
        return .random(using: &generator)
    }

    private func ping() {
        guard let context, !closeSent else { return }
        guard unansweredPing == nil else {
            fail(RelaySocketError.pingUnanswered(options.pingInterval), code: .goingAway)
            return
        }
        var data = context.channel.allocator.buffer(capacity: 8)
        data.writeInteger(UInt64.random(in: .min ... .max))
        unansweredPing = data
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, maskKey: maskKey(), data: data)), promise: nil)
    }

    /// Starts the closing handshake: the socket closes when the relay answers, or a second later
    /// (at once after a fault: the relay need not agree).
    func close(code: WebSocketErrorCode, reason: String?, waitForAnswer: Bool = true) {
        guard let context else { return }
        let channel = context.channel
        guard !closeSent else {
            if !waitForAnswer { channel.close(promise: nil) }
            return
        }
        closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        payload.write(webSocketErrorCode: code)
        if let reason { payload.writeString(reason) }
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey(), data: payload)
        let written = context.writeAndFlush(wrapOutboundOut(frame))
        if waitForAnswer {
            context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        } else {
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

#if os(Linux)
    extension ChannelOption where Self == ChannelOptions.Types.SocketOption {
        /// TCP_QUICKACK: acknowledge what has been received at once (Linux only).
        static var tcpQuickAck: Self { Self(level: .tcp, name: NIOBSDSocket.Option(rawValue: CInt(TCP_QUICKACK))) }
    }
#endif
