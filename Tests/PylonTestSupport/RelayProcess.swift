import Foundation

/// A relay on 127.0.0.1 for a test, on a free port, stopped when the test ends: a real one,
/// `nostr-relay` (PyPI, Python) or rust-nostr's relay (`LocalRelay` from the nostr-sdk package),
/// or `Tests/Peers/slow_relay.py`, which accepts chosen kinds late. It can be killed and started
/// again on the same port.
public final class RelayProcess: @unchecked Sendable {
    public enum Implementation: String, Sendable, CustomStringConvertible {
        case nostrRelay = "nostr-relay"
        case rustNostr = "rust-nostr"
        /// In memory, for the tests of a relay slow to accept (`Options.holdKinds`).
        case slowRelay = "slow-relay"
        public var description: String { rawValue }
        /// The real relays: what every wire behaviour is checked against.
        public static let real: [Implementation] = [.nostrRelay, .rustNostr]
    }

    public struct Options: Sendable {
        /// rust-nostr only: NIP-42 mode (`read`, `write`, `both`).
        public var nip42: String?
        /// rust-nostr only: events accepted per minute (its default is 60; ours is unlimited).
        public var notesPerMinute: Int?
        /// nostr-relay only: check signatures on write. Off lets a raw client store forged events.
        public var verifySignatures = true
        /// nostr-relay only: a rate limit on EVENT, e.g. "5/s".
        public var eventRateLimit: String?
        /// slow-relay only: events of these kinds are accepted (stored, forwarded, answered OK)
        /// only `holdSeconds` after they arrive.
        public var holdKinds: [Int]
        public var holdSeconds: Double

        public init(
            nip42: String? = nil, notesPerMinute: Int? = nil, verifySignatures: Bool = true, eventRateLimit: String? = nil,
            holdKinds: [Int] = [], holdSeconds: Double = 0
        ) {
            self.nip42 = nip42
            self.notesPerMinute = notesPerMinute
            self.verifySignatures = verifySignatures
            self.eventRateLimit = eventRateLimit
            self.holdKinds = holdKinds
            self.holdSeconds = holdSeconds
        }
    }

    public let implementation: Implementation
    public let options: Options
    public let port: Int
    public let directory: TestHome
    private var process: Process?
    private let lock = NSLock()

    public var url: String { "ws://127.0.0.1:\(port)" }

    private init(_ implementation: Implementation, options: Options, port: Int) throws {
        self.implementation = implementation
        self.options = options
        self.port = port
        self.directory = try TestHome()
    }

    /// Starts a relay and waits until it accepts connections.
    public static func start(_ implementation: Implementation, options: Options = .init()) async throws -> RelayProcess {
        let relay = try RelayProcess(implementation, options: options, port: try FreePort.next())
        try await relay.start()
        return relay
    }

    deinit {
        lock.withLock { process }.map(Self.terminate)
    }

    /// Starts (again) on the same port.
    public func start() async throws {
        let process = Process()
        process.executableURL = try PythonPeers.python
        switch implementation {
        case .nostrRelay:
            let config = try writeNostrRelayConfig()
            let relay = try PythonPeers.python.deletingLastPathComponent().appending(path: "nostr-relay")
            process.arguments = [PythonPeers.script("launch.py").path, relay.path, "-c", config.path, "serve", "--use-uvicorn"]
        case .rustNostr:
            var arguments = [PythonPeers.script("rust_relay.py").path, "--port", String(port)]
            if let mode = options.nip42 { arguments += ["--nip42", mode] }
            if let n = options.notesPerMinute { arguments += ["--notes-per-minute", String(n)] }
            process.arguments = arguments
        case .slowRelay:
            process.arguments = [
                PythonPeers.script("slow_relay.py").path, "--port", String(port),
                "--hold-kinds", options.holdKinds.map(String.init).joined(separator: ","), "--hold-seconds", String(options.holdSeconds),
            ]
        }
        process.currentDirectoryURL = directory.url
        process.standardInput = Pipe()  // the peer stops when this closes
        let logPath = directory.file("relay.log").path
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = FileHandle(forWritingAtPath: logPath)
        _ = try? log?.seekToEnd()
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
        lock.withLock { self.process = process }
        guard await FreePort.awaitListening(port, timeout: .seconds(30)) else {
            let output = (try? String(contentsOf: directory.file("relay.log"), encoding: .utf8)) ?? ""
            stop()
            throw PythonPeers.OracleError(message: "\(implementation) did not start on port \(port): \(output.suffix(2000))")
        }
    }

    /// SIGKILL, as a crash would.
    public func kill() {
        guard let process = lock.withLock({ () -> Process? in defer { self.process = nil }; return self.process }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        while ProcessState.isAlive(process.processIdentifier) { usleep(5_000) }
        process.waitUntilExit()
    }

    /// SIGTERM, then wait.
    public func stop() {
        guard let process = lock.withLock({ () -> Process? in defer { self.process = nil }; return self.process }) else { return }
        Self.terminate(process)
    }

    private static func terminate(_ process: Process) {
        let pid = process.processIdentifier
        guard ProcessState.isAlive(pid) else { return }
        Foundation.kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while ProcessState.isAlive(pid) && Date() < deadline { usleep(5_000) }
        if ProcessState.isAlive(pid) { Foundation.kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    private func writeNostrRelayConfig() throws -> URL {
        var validators = ["nostr_relay.validators.is_not_too_large"]
        if options.verifySignatures { validators.append("nostr_relay.validators.is_signed") }
        var text = """
            DEBUG: false
            relay_name: pylon test relay
            storage:
              sqlalchemy.url: sqlite+aiosqlite:///\(directory.file("nostr.sqlite3").path)
              validators:
            \(validators.map { "    - \($0)" }.joined(separator: "\n"))
            gunicorn:
              bind: 127.0.0.1:\(port)
              workers: 1
            authentication:
              enabled: false
            max_event_size: 131072
            subscription_limit: 64
            message_timeout: 1800

            """
        if let limit = options.eventRateLimit {
            text += "rate_limits:\n  ip:\n    EVENT: \"\(limit)\"\n"
        }
        let url = directory.file("config.yaml")
        try Data(text.utf8).write(to: url)
        return url
    }
}

/// Whether a child process still runs, read from /proc: Foundation's `Process.isRunning` can lag
/// behind the exit by seconds on Linux.
public enum ProcessState {
    public static func isAlive(_ pid: Int32) -> Bool {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            guard state == "Z" || state == "X" else { return true }
            // A killed process's main thread can be a zombie while its other threads still exit,
            // holding its files (a listening socket, a lock) open: it is gone once it is alone.
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
            return threads > 1
        #else
            return Foundation.kill(pid, 0) == 0
        #endif
    }
}

/// Free TCP ports on 127.0.0.1.
public enum FreePort {
    /// A port the kernel just handed out and released (a small race with other processes is
    /// acceptable in tests).
    public static func next() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True once something accepts TCP connections on the port.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    public static func awaitListening(_ port: Int, timeout: Duration) async -> Bool {
        await awaitCondition(timeout: timeout, interval: .milliseconds(50)) { isListening(port) }
    }
}

/// A peer script run as a long-lived process (the limits relay, …), stopped when released.
public final class PeerProcess: @unchecked Sendable {
    private let process: Process
    private let stdin = Pipe()
    public let firstLine: String

    public init(script: String, arguments: [String]) throws {
        process = Process()
        process.executableURL = try PythonPeers.python
        process.arguments = [PythonPeers.script(script).path] + arguments
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while true {
            let byte = stdout.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        firstLine = String(decoding: line, as: UTF8.self)
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        let pid = process.processIdentifier
        Foundation.kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while ProcessState.isAlive(pid) && Date() < deadline { usleep(5_000) }
        if ProcessState.isAlive(pid) { Foundation.kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
