import ArgumentParser
import Daemon
import Foundation
import NostrCore
import PylonBasics

/// `pylon identity`: shows the node's public identity and where its files are.
struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Show this node's npub, hex public key and file paths."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print one JSON document.")
    var json = false

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
            configFile: paths.configFile.path, runtimeDirectory: paths.runtimeDirectory.path)
        if json {
            try Output.json(report)
            return
        }
        Output.line("npub      \(report.npub)")
        Output.line("hex       \(report.pubkey)")
        Output.line("identity  \(report.identityFile)")
        Output.line("config    \(report.configFile)")
        Output.line("runtime   \(report.runtimeDirectory)")
    }
}

struct IdentityReport: Encodable {
    let npub: String
    let pubkey: String
    let identityFile: String
    let configFile: String
    let runtimeDirectory: String

    enum CodingKeys: String, CodingKey {
        case npub, pubkey
        case identityFile = "identity_file"
        case configFile = "config_file"
        case runtimeDirectory = "runtime_dir"
    }
}
