public import Foundation
public import PylonBasics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// File-system helpers with the modes SPEC §2 requires.
public enum FileSystem {
    /// Creates the directory (and parents) if needed and sets it to mode 0700.
    public static func makePrivateDirectory(_ url: URL) throws(DaemonError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
        } catch {
            throw DaemonError(.fileSystem, "cannot create directory \(url.path): \(error.localizedDescription)", cause: error)
        }
    }

    /// Writes `contents` to `url` with mode 0600, atomically (temporary file, fsync, rename).
    public static func writePrivateFile(_ url: URL, contents: Data) throws(DaemonError) {
        let temporary = url.deletingLastPathComponent().appending(path: ".\(url.lastPathComponent).\(getpid()).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DaemonError(.fileSystem, "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        let written = contents.withUnsafeBytes { raw -> Int in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                offset += n
            }
            return offset
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == contents.count, synced, rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw DaemonError(.fileSystem, "cannot write \(url.path): \(reason)")
        }
        _ = chmod(url.path, 0o600)
    }

    /// The permission bits of a file, or nil if it does not exist.
    public static func mode(of url: URL) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path) else { return nil }
        return (attributes[.posixPermissions] as? NSNumber).map { $0.intValue & 0o777 }
    }
}
