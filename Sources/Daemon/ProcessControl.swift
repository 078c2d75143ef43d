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

    /// Spawns `executable arguments` detached: new session, empty signal mask, default
    /// handlers, stdin and stdout on /dev/null, stderr into a pipe the caller reads.
    public static func spawnDetached(_ executable: String, arguments: [String], environment: [String: String]) throws(DaemonError) -> Child {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            throw DaemonError(.startFailed, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        // Nothing else of ours may leak into the daemon: an inherited pipe (say, the stdout of
        // whoever ran `pylon start`) would stay open for the daemon's whole life.
        // (glibc's posix_spawn_file_actions_addclosefrom_np is not visible to Swift.)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        for fd in openDescriptors() where fd > 2 && fd != pipeFDs[0] && fd != pipeFDs[1] {
            posix_spawn_file_actions_addclose(&actions, fd)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // POSIX_SPAWN_SETSID is a macro the importer does not see: glibc ≥ 2.26 defines it as 0x80,
        // Darwin as 0x400.
        #if os(Linux)
            let setsid: Int16 = 0x80
        #else
            let setsid: Int16 = 0x400
        #endif
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK) | Int16(POSIX_SPAWN_SETSIGDEF) | setsid)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: Int32 = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(pipeFDs[1])
        guard result == 0 else {
            close(pipeFDs[0])
            throw DaemonError(.startFailed, "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        _ = fcntl(pipeFDs[0], F_SETFL, fcntl(pipeFDs[0], F_GETFL) | O_NONBLOCK)
        return Child(pid: pid, stderr: pipeFDs[0])
    }

    /// The descriptors open in this process.
    static func openDescriptors() -> [Int32] {
        #if os(Linux)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return entries.compactMap(Int32.init).filter { fcntl($0, F_GETFD) >= 0 }
        #else
            return (3..<Int32(min(sysconf(Int32(_SC_OPEN_MAX)), 4096))).filter { fcntl($0, F_GETFD) >= 0 }
        #endif
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

    /// Non-blocking check whether a child exited; returns its exit status if so.
    public static func exitStatus(of pid: Int32) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }  // WIFEXITED → WEXITSTATUS
        return 128 + (status & 0x7f)  // killed by a signal
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
