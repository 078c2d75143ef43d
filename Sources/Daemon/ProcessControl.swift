import Foundation
public import PylonBasics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process-level helpers for starting the daemon safely.
///
/// The daemon never forks: Swift programs have threads from the start, and `fork()` in a
/// threaded process is undefined. `pylon start` re-executes its own binary with `posix_spawn` in
/// a new session (`setsid`), with a clean signal mask and default signal handlers.
public enum ProcessControl {
    /// The running executable (for re-exec).
    public static var executablePath: String {
        #if os(Linux)
            if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// Unblocks the signals the daemon handles. A parent (a test runner, a supervisor) may have
    /// started us with them blocked, and the mask survives exec.
    public static func unblockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// A child started in its own session, with its stderr readable through a pipe.
    public struct Child: Sendable {
        public let pid: Int32
        /// Read end of the child's stderr.
        public let stderr: Int32
    }

    /// Spawns `executable arguments` detached (``Spawn``): new session, empty signal mask,
    /// default handlers, stdin and stdout on /dev/null, stderr into a pipe the caller reads.
    public static func spawnDetached(_ executable: String, arguments: [String], environment: [String: String]) throws(DaemonError) -> Child {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            throw DaemonError(.startFailed, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            pid = try Spawn.start(
                executable, arguments: arguments, environment: environment.map { "\($0.key)=\($0.value)" }, stderr: pipeFDs[1], group: .newSession)
        } catch {
            close(pipeFDs[0])
            close(pipeFDs[1])
            throw DaemonError(.startFailed, error.description)
        }
        close(pipeFDs[1])
        _ = fcntl(pipeFDs[0], F_SETFL, fcntl(pipeFDs[0], F_GETFL) | O_NONBLOCK)
        return Child(pid: pid, stderr: pipeFDs[0])
    }

    /// Reads what is available on a non-blocking descriptor.
    public static func drain(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                if buffer.count > 65536 { buffer.removeFirst(buffer.count - 65536) }
                continue
            }
            return n == 0  // true at end of file
        }
    }

    /// Non-blocking check whether a child exited; returns its exit status if so (128 + the
    /// signal's number when a signal ended it).
    public static func exitStatus(of pid: Int32) -> Int32? {
        switch Spawn.reap(pid) {
        case .exited(let code)?: code
        case .signaled(let signal)?: 128 + signal
        case nil: nil
        }
    }

    /// True while a process with this PID exists.
    public static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Points stderr at /dev/null: after a background daemon is up, the pipe to `pylon start`
    /// closes and writing to it would raise SIGPIPE.
    public static func detachStandardError() {
        let fd = open("/dev/null", O_WRONLY)
        guard fd >= 0 else { return }
        dup2(fd, 2)
        close(fd)
    }

    /// Ignores SIGPIPE: a client that hangs up must never kill the daemon.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
