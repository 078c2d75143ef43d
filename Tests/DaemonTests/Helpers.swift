import ControlProtocol
import Daemon
import Foundation
import Logging
import PylonBasics
import PylonTestSupport
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let quietLogger = Logger(label: "pylon.test") { _ in SwiftLogNoOpLogHandler() }

/// Runs blocking work (the synchronous `ControlClient`, raw sockets) on its own thread, so it never
/// holds one of the few threads of the concurrency pool that the server needs.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                continuation.resume(returning: try work())
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}

/// A handler with canned answers.
struct FakeHandler: ControlHandler {
    static let report = StatusReport(
        running: true, uptimeSecs: 5, pid: 1, version: "test", mode: .provider, providerActive: true, hostActive: false,
        jobsCompleted: 3, earningsMsats: 0, relays: [.init(url: "ws://127.0.0.1:1", state: .connecting)], backends: [],
        queue: .init(queued: 0, running: 0, slots: 2, maxQueue: 64), earnings: .init())

    struct Failure: Error, CustomStringConvertible {
        var description: String { "the backend is not ready" }
    }

    func handle(_ request: ControlRequest, reply: ControlReply) async throws {
        switch request {
        case .ping: try await reply(.pong)
        case .status: try await reply(.status(Self.report))
        case .shutdown: try await reply(.ok)
        case .reload: try await reply(.error("config.toml:3: provider.max_queue: expected an integer"))
        case .dumpState: throw Failure()
        case .events(let since):
            if since == 999 { return }  // answers nothing: the server must say so
            try await reply(.events([JournalEntry(seq: since + 1, time: Date(timeIntervalSince1970: 0), kind: .daemonStarted)]))
        case .submitJob(let job) where job.prompt == "slow":
            try await Task.sleep(for: .seconds(30))  // cancelled when the server stops
            try await reply(.error("too slow"))
        case .submitJob(let job):
            let words = job.prompt.split(separator: " ").map(String.init)
            if job.stream {
                for word in words { try await reply(.token(word)) }
            }
            try await reply(
                .jobResult(
                    LocalJobResult(id: "job-1", output: words.joined(), model: job.model ?? "fake", backend: "fake", tokens: words.count, durationMs: 1)))
        case .agents: try await reply(.agents([]))
        case .agentChanged: try await reply(.ok)
        }
    }
}

/// A control server on a fresh socket, run by a real `ServiceGroup`.
struct ServerFixture {
    let home: TestHome
    let path: String
    let server: ControlServer

    init(handler: any ControlHandler = FakeHandler(), configuration: ControlServer.Configuration = .init()) throws {
        home = try TestHome()
        path = home.file("control.sock").path(percentEncoded: false)
        server = ControlServer(socketPath: path, handler: handler, configuration: configuration, logger: quietLogger)
    }

    /// Binds, runs the server in a service group around `body`, then shuts it down gracefully.
    func run(_ body: (String) async throws -> Void) async throws {
        try await server.bind()
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(path)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// A bare socket client, for sending what `ControlClient` never would.
final class RawClient {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let result = withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { raw in
                #if canImport(Glibc)
                Glibc.send(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(descriptor, raw.baseAddress, raw.count, 0)
                #endif
            }
            if sent <= 0 { return }
            offset += sent
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// The next line without its newline, or `nil` at end of stream.
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}

/// A report written by the file watcher or reloader, collected for assertions.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
    var count: Int { values.withLock { $0.count } }
}
