import PylonBasics
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Children are started with posix_spawn: their output where they are told, their own process
/// group, no descriptor of ours, default signal handling; and reaped with how they ended.
@Suite("Spawn")
struct SpawnTests {
    @Test("stdout and stderr go where they are told, stdin is /dev/null, and the exit code comes back")
    func outputAndExit() throws {
        let (readEnd, writeEnd) = try Self.pipe()
        defer { close(readEnd) }
        let pid = try Spawn.start(
            "/bin/sh", arguments: ["-c", "read line; echo \"out:$line\"; echo err >&2; exit 3"], stdout: writeEnd, stderr: writeEnd, group: .inherit)
        close(writeEnd)
        #expect(Spawn.waitBlocking(pid) == .exited(3))
        #expect(Self.readAll(readEnd) == "out:\nerr\n")
        #expect(Spawn.waitBlocking(pid) == nil, "reaped once")
    }

    @Test("a new process group is led by the child, and a signal to the group ends it")
    func processGroup() throws {
        let pid = try Spawn.start("/bin/sleep", arguments: ["30"], group: .newProcessGroup)
        #expect(getpgid(pid) == pid)
        #expect(getpgid(pid) != getpgrp())
        #expect(Spawn.reap(pid) == nil, "still running")
        #expect(kill(-pid, SIGTERM) == 0)
        #expect(Spawn.waitBlocking(pid) == .signaled(SIGTERM))
    }

    @Test("no descriptor of the parent's leaks into the child, not even one without close-on-exec")
    func descriptorsClosed() throws {
        let leaky = open("/dev/null", O_RDONLY)  // no O_CLOEXEC
        try #require(leaky > 2)
        defer { close(leaky) }
        let (readEnd, writeEnd) = try Self.pipe()
        defer { close(readEnd) }
        let pid = try Spawn.start("/bin/ls", arguments: ["/proc/self/fd"], stdout: writeEnd, group: .inherit)
        close(writeEnd)
        #expect(Spawn.waitBlocking(pid) == .exited(0))
        let descriptors = Self.readAll(readEnd).split(separator: "\n").compactMap { Int32($0) }
        // 0, 1 and 2, and the one ls opened to read the directory (the lowest free number).
        #expect(descriptors == [0, 1, 2, 3], "\(descriptors)")
    }

    @Test("the child starts with an empty signal mask: a SIGTERM blocked here still ends it")
    func signalMaskCleared() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let pid = Result { try Spawn.start("/bin/sleep", arguments: ["30"], group: .newProcessGroup) }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let child = try pid.get()
        kill(child, SIGTERM)
        #expect(Spawn.waitBlocking(child) == .signaled(SIGTERM))
    }

    @Test("a missing executable is an error that names it; the environment given is the child's")
    func failuresAndEnvironment() throws {
        #expect {
            try Spawn.start("/nonexistent/pylon", arguments: [], group: .inherit)
        } throws: { error in
            (error as? Spawn.Failure).map { $0.code == ENOENT && $0.description.contains("/nonexistent/pylon") } ?? false
        }
        let (readEnd, writeEnd) = try Self.pipe()
        defer { close(readEnd) }
        let pid = try Spawn.start("/bin/sh", arguments: ["-c", "echo \"$PYLON_SPAWN_TEST\""], environment: ["PYLON_SPAWN_TEST=given"], stdout: writeEnd, group: .inherit)
        close(writeEnd)
        #expect(Spawn.waitBlocking(pid) == .exited(0))
        #expect(Self.readAll(readEnd) == "given\n")
    }

    static func pipe() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try #require(Glibc.pipe(&fds) == 0)
        return (fds[0], fds[1])
    }

    static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
