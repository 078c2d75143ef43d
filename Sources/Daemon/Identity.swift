public import Foundation
public import NostrCore
public import PylonBasics
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

/// The node's identity: a BIP-39 phrase on disk (mode 0600) and the NIP-06 keys derived from it
/// (`m/44'/1237'/0'/0/0`).
public struct Identity: Sendable {
    public let mnemonic: Mnemonic
    public let keypair: Keypair

    public init(mnemonic: Mnemonic) {
        self.mnemonic = mnemonic
        self.keypair = NIP06.keypair(from: mnemonic)
    }

    public var publicKey: PublicKey { keypair.publicKey }
    public var npub: String { keypair.publicKey.npub }
}

/// Reads and writes `identity.mnemonic`.
public struct IdentityStore: Sendable {
    public let paths: PylonPaths

    public init(paths: PylonPaths) { self.paths = paths }

    public var exists: Bool { FileManager.default.fileExists(atPath: paths.identityFile.path) }

    /// Loads and validates the phrase.
    public func load() throws(DaemonError) -> Identity {
        let path = paths.identityFile.path
        guard exists else {
            throw DaemonError(.identityMissing, "no identity at \(path); create one with `pylon init`")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DaemonError(.fileSystem, "cannot read \(path): \(error.localizedDescription)", cause: error)
        }
        do {
            return Identity(mnemonic: try Mnemonic(phrase: text))
        } catch {
            // The NostrError message names the problem (word, count, checksum) without the phrase.
            throw DaemonError(.identityInvalid, "the identity at \(path) is not a valid BIP-39 phrase (\(error.message)); restore it or run `pylon init --force`", cause: error)
        }
    }

    /// Writes a new identity. An existing one is replaced only with `overwrite`.
    /// The file is written to a temporary name with mode 0600 and renamed into place, so a crash
    /// never leaves a partial phrase and the phrase is never readable by others, even briefly.
    public func save(_ mnemonic: Mnemonic, overwrite: Bool) throws(DaemonError) {
        let path = paths.identityFile.path
        if exists && !overwrite {
            throw DaemonError(.identityExists, "an identity already exists at \(path); use --force to replace it (the old phrase is lost unless you saved it)")
        }
        try FileSystem.makePrivateDirectory(paths.configDirectory)
        try FileSystem.writePrivateFile(paths.identityFile, contents: Data((mnemonic.phrase + "\n").utf8))
    }
}

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
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }
}
