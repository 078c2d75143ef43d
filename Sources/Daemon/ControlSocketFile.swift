import PylonBasics
#if os(Linux)
    // Glibc's `struct stat` and `timespec` are owned by the module that first includes their header,
    // which here is CDispatch; MemberImportVisibility needs it imported to use their fields.
    import CDispatch
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket file on disk: the stale-socket check, binding with mode 0600 before anyone can
/// connect, and removal that never deletes another daemon's socket.
enum ControlSocketFile {
    /// Device and inode of the socket this process bound, to recognise it at removal.
    struct Identity: Sendable, Equatable {
        var device: UInt64
        var inode: UInt64
    }

    /// Makes `path` free to bind: nothing there is fine; a socket nobody answers (left by a daemon
    /// that died) is removed; a socket that answers is another daemon, an error; anything else is
    /// left alone, an error too.
    static func clearStale(_ path: String) throws(ControlServerError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw ControlServerError(.bindFailed, "cannot inspect \(path): \(errorText(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ControlServerError(.notASocket, "\(path) exists and is not a socket; move it away and start again")
        }
        // Dial it first, as a client would: only a refused connection proves the socket is stale.
        let address = try socketAddress(path)
        let probe = makeSocket()
        guard probe >= 0 else { throw ControlServerError(.bindFailed, "cannot create a socket: \(errorText(errno))") }
        defer { close(probe) }
        _ = fcntl(probe, F_SETFL, O_NONBLOCK)
        let result = withUnsafePointer(to: address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let code = errno
        if result == 0 || code == EAGAIN || code == EINPROGRESS {
            throw ControlServerError(
                .addressInUse, "another daemon is listening on \(path); stop it with `pylon stop` or choose another home with --home")
        }
        guard code == ECONNREFUSED else {
            throw ControlServerError(.bindFailed, "cannot check whether \(path) is in use: \(errorText(code))")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ControlServerError(.bindFailed, "cannot remove the stale socket \(path): \(errorText(errno))")
        }
    }

    /// Creates a socket bound to `path` with file mode `mode`, not yet listening. Until `listen()`
    /// a connection is refused, so nobody can connect between `bind` and `chmod`.
    static func bind(_ path: String, mode: mode_t) throws(ControlServerError) -> (descriptor: Int32, identity: Identity) {
        let address = try socketAddress(path)
        let descriptor = makeSocket()
        guard descriptor >= 0 else { throw ControlServerError(.bindFailed, "cannot create a socket: \(errorText(errno))") }
        let bound = withUnsafePointer(to: address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemBind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            if code == EADDRINUSE {
                throw ControlServerError(.addressInUse, "another daemon is listening on \(path); stop it with `pylon stop`")
            }
            throw ControlServerError(.bindFailed, "cannot bind the control socket \(path): \(errorText(code))")
        }
        var info = stat()
        guard chmod(path, mode) == 0, lstat(path, &info) == 0 else {
            let code = errno
            close(descriptor)
            unlink(path)
            throw ControlServerError(.bindFailed, "cannot set the mode of the control socket \(path): \(errorText(code))")
        }
        return (descriptor, Identity(device: UInt64(truncatingIfNeeded: info.st_dev), inode: UInt64(truncatingIfNeeded: info.st_ino)))
    }

    /// Removes `path` if it is still the socket this process bound.
    static func remove(_ path: String, ifStill identity: Identity) {
        var info = stat()
        guard lstat(path, &info) == 0, UInt64(truncatingIfNeeded: info.st_dev) == identity.device,
            UInt64(truncatingIfNeeded: info.st_ino) == identity.inode else {
            return
        }
        unlink(path)
    }

    private static func makeSocket() -> Int32 {
        #if canImport(Glibc)
        socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
    }

    private static func socketAddress(_ path: String) throws(ControlServerError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw ControlServerError(
                .pathTooLong, "the control socket path is \(bytes.count) bytes, more than the \(capacity - 1) a socket allows: \(path); use a shorter --home")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

// `bind` under a name that the static method above does not shadow.
private func systemBind(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    bind(descriptor, address, length)
}
