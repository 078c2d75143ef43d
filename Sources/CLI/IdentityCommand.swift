import ArgumentParser
import Daemon
import NostrCore
import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `pylon identity`: shows the node's public identity and where its files are.
struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Show this node's npub, hex public key and file paths."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let paths = global.paths
        let identity: Identity
        do {
            identity = try IdentityStore(paths: paths).load()
        } catch {
            throw Output.fail(error.message)
        }
        if let mode = FileSystem.mode(of: paths.identityFile), mode & 0o077 != 0 {
            Output.warning("\(paths.identityFile.path) is readable by others (mode \(String(mode, radix: 8))); run `chmod 600` on it")
        }
        let report = IdentityReport(
            npub: identity.npub, pubkey: identity.publicKey.hex, identityFile: paths.identityFile.path,
            configFile: paths.configFile.path, runtimeDir: paths.runtimeDirectory.path)
        if output.json { return try Output.json(report) }
        Output.line("npub      \(report.npub)")
        Output.line("hex       \(report.pubkey)")
        Output.line("identity  \(report.identityFile)")
        Output.line("config    \(report.configFile)")
        Output.line("runtime   \(paths.runtimeDirectory.path)")
    }
}

/// The node's public identity and its files, as `identity --json` and `init --json` print them;
/// each command fills its own optional members (a nil member is not printed). Never the phrase.
struct IdentityReport: Encodable {
    let npub: String
    let pubkey: String
    let identityFile: String
    let configFile: String
    /// `identity`: where the PID file and the socket live.
    var runtimeDir: String?
    /// `init`: whether the phrase was read from standard input.
    var imported: Bool?
    /// `init`: whether a default config was written.
    var configCreated: Bool?
}
