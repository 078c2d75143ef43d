public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a control-socket call failed.

/// A synchronous client for the control socket: one JSON line per request, one per response,
/// several requests per connection.
///
/// Blocking POSIX calls keep a `pylon status` round trip well under a millisecond; `SO_RCVTIMEO`
/// and `SO_SNDTIMEO` bound every wait, so a hung daemon cannot hang the CLI. Not thread-safe: use
/// one client per thread.
public final class ControlClient {
    public let socketPath: String
    /// The longest wait for one response line (and for connecting and sending).
    public private(set) var timeout: Duration
    private let maximumResponseLength: Int
    private var descriptor: Int32
    /// Cuts the received bytes into response lines.
    private var splitter: LineSplitter<ArraySlice<UInt8>>
    /// Received bytes not yet cut into lines.
    private var unread: ArraySlice<UInt8> = []
    /// Where `recv` writes; the bytes are then handed to the splitter.
    private let receiveBuffer: UnsafeMutableRawBufferPointer

    /// Connects to the daemon's socket.
    ///
    /// - Throws: ``ControlClientError`` with ``ControlClientError/Code/notRunning`` when no daemon
    ///   listens there; its message says to run `pylon start`.
    public init(
        socketPath: String, timeout: Duration = .seconds(5),
        maximumResponseLength: Int = ControlLine.defaultMaximumResponseLength
    ) throws(ControlClientError) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.maximumResponseLength = maximumResponseLength
        self.splitter = LineSplitter(maxLineBytes: maximumResponseLength)
        self.descriptor = try Self.connect(path: socketPath, timeout: timeout)
        self.receiveBuffer = .allocate(byteCount: 64 * 1024, alignment: 1)
    }

    deinit {
        if descriptor >= 0 { _ = systemClose(descriptor) }
        receiveBuffer.deallocate()
    }

    /// Closes the connection; later calls fail with ``ControlClientError/Code/connectionClosed``.
    public func close() {
        if descriptor >= 0 { _ = systemClose(descriptor) }
        descriptor = -1
    }

    /// Changes the per-response timeout for the following calls.
    public func setTimeout(_ timeout: Duration) throws(ControlClientError) {
        self.timeout = timeout
        try Self.setTimeouts(descriptor, timeout, path: socketPath)
    }

    /// Sends `request` and returns the first response (an `{"Error": ...}` answer is returned as
    /// ``ControlResponse/error(_:)``, not thrown). For a streaming `SubmitJob` use ``submitJob(_:onToken:)``.
    public func send(_ request: ControlRequest) throws(ControlClientError) -> ControlResponse {
        try write(ControlLine.encode(request))
        return try readResponse()
    }

    /// Sends `request` and reads responses until a final one (anything but `Token`), handing each
    /// non-final one to `onResponse`. Returns the final response.
    public func stream(_ request: ControlRequest, onResponse: (ControlResponse) -> Void) throws(ControlClientError) -> ControlResponse {
        try write(ControlLine.encode(request))
        while true {
            let response = try readResponse()
            if response.isFinal { return response }
            onResponse(response)
        }
    }

    /// Runs a job through the daemon. With `job.stream`, each `Token` goes to `onToken` as it arrives;
    /// the timeout then bounds the wait for each line, otherwise the wait for the whole result.
    ///
    /// - Throws: ``ControlClientError/Code/daemonError`` with the daemon's message when the job fails.
    public func submitJob(_ job: SubmitJob, onToken: (String) -> Void = { _ in }) throws(ControlClientError) -> LocalJobResult {
        let final = try stream(.submitJob(job)) { response in
            if case .token(let text) = response { onToken(text) }
        }
        switch final {
        case .jobResult(let result): return result
        case .error(let message): throw ControlClientError(.daemonError, message)
        default: throw ControlClientError(.protocolError, "the daemon answered SubmitJob with \(final.name) instead of JobResult")
        }
    }

    /// Connects, sends one request, reads one response and closes.
    public static func send(_ request: ControlRequest, socketPath: String, timeout: Duration = .seconds(5)) throws(ControlClientError)
        -> ControlResponse
    {
        let client = try ControlClient(socketPath: socketPath, timeout: timeout)
        defer { client.close() }
        return try client.send(request)
    }

    // MARK: - Reading and writing

    private func write(_ bytes: [UInt8]) throws(ControlClientError) {
        guard descriptor >= 0 else { throw ControlClientError(.connectionClosed, "the control connection is closed") }
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                systemSend(descriptor, raw.baseAddress.map { $0 + sent }, bytes.count - sent)
            }
            if result >= 0 {
                sent += result
                continue
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK {
                throw ControlClientError(.timeout, "the daemon did not read the request within \(Self.describe(timeout)) (\(socketPath))")
            }
            if code == EPIPE || code == ECONNRESET {
                throw ControlClientError(.connectionClosed, "the daemon closed the control connection (\(socketPath))")
            }
            throw ControlClientError(.io, "cannot write to the control socket \(socketPath): \(Self.errorText(code))")
        }
    }

    private func readResponse() throws(ControlClientError) -> ControlResponse {
        while true {
            let line = try readLine()
            // Blank lines carry nothing; skip them rather than fail.
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                return try ControlLine.decodeResponse(line)
            } catch {
                throw ControlClientError(.protocolError, "the daemon sent an invalid response: \(error.message)")
            }
        }
    }

    private func readLine() throws(ControlClientError) -> ArraySlice<UInt8> {
        guard descriptor >= 0 else { throw ControlClientError(.connectionClosed, "the control connection is closed") }
        while true {
            do {
                if let line = try splitter.nextLine(from: &unread) { return line }
            } catch {
                throw ControlClientError(.protocolError, "the daemon sent a response longer than \(maximumResponseLength) bytes")
            }
            let received = systemReceive(descriptor, receiveBuffer.baseAddress, receiveBuffer.count)
            if received > 0 {
                unread = ArraySlice(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<received]))
                continue
            }
            if received == 0 {
                throw ControlClientError(.connectionClosed, "the daemon closed the control connection before answering (\(socketPath))")
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK {
                throw ControlClientError(.timeout, "the daemon did not answer within \(Self.describe(timeout)) (\(socketPath))")
            }
            if code == ECONNRESET {
                throw ControlClientError(.connectionClosed, "the daemon closed the control connection (\(socketPath))")
            }
            throw ControlClientError(.io, "cannot read from the control socket \(socketPath): \(Self.errorText(code))")
        }
    }

    // MARK: - Socket set-up

    private static func connect(path: String, timeout: Duration) throws(ControlClientError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw ControlClientError(.io, "the control socket path is too long (\(pathBytes.count) bytes, at most \(capacity - 1)): \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else {
            throw ControlClientError(.io, "cannot create a socket: \(errorText(errno))")
        }
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        do {
            try setTimeouts(descriptor, timeout, path: path)
        } catch {
            _ = systemClose(descriptor)
            throw error
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + 1)
        while true {
            let result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(descriptor, $0, length) }
            }
            if result == 0 { return descriptor }
            let code = errno
            if code == EINTR { continue }
            _ = systemClose(descriptor)
            switch code {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                throw ControlClientError(
                    .notRunning, "pylon is not running (nothing listens on \(path)); start it with `pylon start`")
            case EACCES, EPERM:
                throw ControlClientError(
                    .permissionDenied, "cannot connect to \(path): permission denied (is the daemon running as another user?)")
            case EAGAIN, EWOULDBLOCK, ETIMEDOUT:
                throw ControlClientError(.timeout, "the daemon did not accept the connection within \(describe(timeout)) (\(path))")
            default:
                throw ControlClientError(.io, "cannot connect to \(path): \(errorText(code))")
            }
        }
    }

    private static func setTimeouts(_ descriptor: Int32, _ timeout: Duration, path: String) throws(ControlClientError) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval()
        value.tv_sec = .init(max(0, seconds))
        value.tv_usec = .init(max(0, attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }  // 0 would mean "wait forever"
        let size = socklen_t(MemoryLayout<timeval>.size)
        guard setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, size) == 0,
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, size) == 0
        else {
            throw ControlClientError(.io, "cannot set the timeout on the control socket \(path): \(errorText(errno))")
        }
    }

    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

// The C calls under names that do not clash with this type's methods.

private func systemClose(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}

private func systemConnect(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(descriptor, address, length)
}

private func systemSend(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    send(descriptor, bytes, count, 0)
    #endif
}

private func systemReceive(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    recv(descriptor, bytes, count, 0)
}
