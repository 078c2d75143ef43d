import Foundation
public import PylonBasics
public import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The PID file, held under an exclusive `flock` for the daemon's whole life.
///
/// The lock, not the file's existence, says whether a daemon runs: after a `kill -9` the file
/// stays but the lock is gone, so the next start replaces it (a stale PID file), and two
/// concurrent starts cannot both win. As the first service in the group it shuts down last and
/// removes the PID file.
public final class RuntimeFiles: Service, Sendable {
    public let paths: PylonPaths
    private let descriptor: Int32

    private init(paths: PylonPaths, descriptor: Int32) {
        self.paths = paths
        self.descriptor = descriptor
    }

    /// Creates the runtime directory (0700) and takes the PID lock, or says who holds it.
    public static func acquire(_ paths: PylonPaths) throws(DaemonError) -> RuntimeFiles {
        try FileSystem.makePrivateDirectory(paths.runtimeDirectory)
        try FileSystem.makePrivateDirectory(paths.logsDirectory)
        let path = paths.pidFile.path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DaemonError(.fileSystem, "cannot open the PID file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = readPID(fd)
            close(fd)
            throw DaemonError(.alreadyRunning, "pylon is already running\(holder.map { " (pid \($0))" } ?? "") with home \(paths.runtimeDirectory.path)")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = fsync(fd)
        _ = fchmod(fd, 0o600)
        return RuntimeFiles(paths: paths, descriptor: fd)
    }

    /// Waits for graceful shutdown; then removes the PID file and releases the lock.
    public func run() async throws {
        try? await gracefulShutdown()
        release()
    }

    /// Removes the PID file while still holding the lock, then closes it.
    public func release() {
        unlink(paths.pidFile.path)
        close(descriptor)
    }

    /// The PID of the running daemon, or nil when none holds the lock (stale or missing file).
    public static func runningPID(_ paths: PylonPaths) -> Int32? {
        let fd = open(paths.pidFile.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return readPID(fd)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
