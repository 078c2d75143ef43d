import ArgumentParser
import Daemon
import Foundation
import NostrCore
import PylonBasics

/// `pylon init`: creates the identity (NIP-06) and a commented default config.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create this node's Nostr identity (a BIP-39 phrase) and a default config."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Replace an existing identity (its phrase is lost unless you saved it).")
    var force = false

    @Flag(name: .long, help: "Read an existing BIP-39 phrase (12-24 words) from standard input instead of generating one.")
    var `import` = false

    @Option(name: .long, help: "Words in a new phrase: 12 or 24.")
    var words: Int = 12

    @Flag(name: .long, help: "Print one JSON document (npub, hex key and paths; never the phrase).")
    var json = false

    func validate() throws {
        guard words == 12 || words == 24 else {
            throw ValidationError("--words must be 12 or 24")
        }
    }

    func run() async throws {
        let paths = global.paths
        let store = IdentityStore(paths: paths)
        if store.exists && !force {
            throw Output.fail("an identity already exists at \(paths.identityFile.path); use --force to replace it (the old phrase is lost unless you saved it)")
        }
        let mnemonic: Mnemonic
        if self.import {
            if isatty(STDIN_FILENO) == 1 {
                FileHandle.standardError.write(Data("Enter your BIP-39 phrase (12, 15, 18, 21 or 24 words), then press Enter and Ctrl-D:\n".utf8))
            }
            guard let text = FileHandle.readStandardInput(), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Output.fail("no phrase on standard input; pipe it in, e.g. `pylon init --import < phrase.txt`")
            }
            do {
                mnemonic = try Mnemonic(phrase: text)
            } catch {
                throw Output.fail("the phrase is not valid: \(error.message)")
            }
        } else {
            mnemonic = Mnemonic.generate(wordCount: words)
        }

        do {
            try store.save(mnemonic, overwrite: force)
            try FileSystem.makePrivateDirectory(paths.runtimeDirectory)
        } catch {
            throw Output.fail(error.message)
        }
        let configWritten = try writeDefaultConfigIfMissing(paths)
        let identity = Identity(mnemonic: mnemonic)

        if json {
            try Output.json(
                IdentityReport(
                    npub: identity.npub, pubkey: identity.publicKey.hex, identityFile: paths.identityFile.path,
                    configFile: paths.configFile.path, imported: self.import, configCreated: configWritten))
            return
        }
        if self.import {
            Output.line("Imported identity into \(paths.identityFile.path)")
        } else {
            Output.line("Created a new identity in \(paths.identityFile.path)")
            Output.line()
            Output.line("Write these \(mnemonic.words.count) words down and keep them secret. They are this node's Nostr")
            Output.line("identity and control its funds; they are shown only now:")
            Output.line()
            for row in stride(from: 0, to: mnemonic.words.count, by: 4) {
                let cells = (row..<min(row + 4, mnemonic.words.count)).map { index in
                    "\(String(index + 1).leftPadded(to: 2)). \(mnemonic.words[index].padding(toLength: 10, withPad: " ", startingAt: 0))"
                }
                Output.line("   " + cells.joined(separator: " "))
            }
        }
        Output.line()
        Output.line("npub      \(identity.npub)")
        Output.line("hex       \(identity.publicKey.hex)")
        Output.line("config    \(paths.configFile.path)\(configWritten ? " (created)" : "")")
        Output.line()
        Output.line("Next: `pylon doctor` says what is still missing (a relay, a model backend), then `pylon start` joins the market.")
    }

    /// Writes the commented default config unless a config file already exists.
    private func writeDefaultConfigIfMissing(_ paths: PylonPaths) throws -> Bool {
        guard !FileManager.default.fileExists(atPath: paths.configFile.path) else { return false }
        do {
            try FileSystem.makePrivateDirectory(paths.configDirectory)
            try FileSystem.writePrivateFile(paths.configFile, contents: Data(PylonConfiguration.defaultFileText.utf8))
        } catch {
            throw Output.fail(error.message)
        }
        return true
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
