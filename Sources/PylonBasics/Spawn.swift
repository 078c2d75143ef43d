#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts pylon's child processes: the daemon `pylon start` leaves running, and each agent's
/// process in host mode.
///
/// Never `fork()`: a Swift process has threads from its start, and a fork of a threaded process is
/// undefined. `posix_spawn` starts the child with an empty signal mask and default handlers (a
/// mask and ignored signals survive exec), and with none of the parent's descriptors but the three
/// it is given: a relay's socket or the control socket inherited by an agent would stay open for
/// the agent's whole life.
public enum Spawn {
    /// The group the child starts in.
    public enum Group: Sendable {
        /// The parent's.
        case inherit
        /// A session of its own (`setsid`): a daemon, free of the terminal that started it.
        case newSession
        /// A process group of its own, led by the child: a signal to `-pid` reaches whatever it starts.
        case newProcessGroup
    }

    /// Why a child could not start: `posix_spawn`'s error.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let code: Int32
        public let executable: String
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    /// Starts `executable arguments` (argument 0 is the executable's path). Each of `stdin`,
    /// `stdout` and `stderr` is a descriptor of this process the child gets in that place, or nil
    /// for /dev/null. `environment` nil: this process's. Returns the child's PID.
    public static func start(
        _ executable: String, arguments: [String], environment: [String]? = nil, stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil,
        group: Group
    ) throws(Failure) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, flags) in [(Int32(0), stdin, O_RDONLY), (1, stdout, O_WRONLY), (2, stderr, O_WRONLY)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            }
        }
        // Everything else is closed in the child (after the dup2s above, which read from them).
        // (glibc's posix_spawn_file_actions_addclosefrom_np is not visible to Swift.)
        for fd in openDescriptors() where fd > 2 {
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
        var flags = Int16(POSIX_SPAWN_SETSIGMASK) | Int16(POSIX_SPAWN_SETSIGDEF)
        switch group {
        case .inherit:
            break
        case .newSession:
            // POSIX_SPAWN_SETSID is a macro the importer does not see: glibc ≥ 2.26 defines it as
            // 0x80, Darwin as 0x400.
            #if os(Linux)
                flags |= 0x80
            #else
                flags |= 0x400
            #endif
        case .newProcessGroup:
            flags |= Int16(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, flags)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var pid: Int32 = 0
        let result =
            if let envp {
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            } else {
                posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            }
        guard result == 0 else { throw Failure(code: result, executable: executable) }
        return pid
    }

    /// How a child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// Reaps the child `pid` without waiting; nil while it runs (or when it is not ours to reap).
    public static func reap(_ pid: Int32) -> Termination? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return termination(status)
    }

    /// Waits for the child `pid` to end and reaps it, blocking the calling thread; nil when it is
    /// not a child of this process (or was reaped elsewhere).
    public static func waitBlocking(_ pid: Int32) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return termination(status) }
            if result < 0, errno == EINTR { continue }
            return nil
        }
    }

    static func termination(_ status: Int32) -> Termination {
        // WIFEXITED → WEXITSTATUS, else WTERMSIG.
        status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }

    /// The descriptors open in this process.
    public static func openDescriptors() -> [Int32] {
        #if os(Linux)
            guard let directory = opendir("/proc/self/fd") else { return [] }
            defer { closedir(directory) }
            let own = dirfd(directory)
            var result: [Int32] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let fd = Int32(name), fd != own, fcntl(fd, F_GETFD) >= 0 { result.append(fd) }
            }
            return result
        #else
            return (3..<Int32(min(sysconf(Int32(_SC_OPEN_MAX)), 4096))).filter { fcntl($0, F_GETFD) >= 0 }
        #endif
    }
}
