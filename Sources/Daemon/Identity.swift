import Foundation
public import NostrCore
public import PylonBasics


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
