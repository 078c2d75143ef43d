import Foundation
import NostrCore
import PylonTestSupport
import Testing

@Suite("pylon init and identity")
struct IdentityCommandTests {
    @Test("init creates a 0600 identity in a 0700 home and a commented config; identity shows it")
    func initCreates() throws {
        let home = try TestHome()
        // When
        let result = try home.pylon("init")
        // Then
        #expect(result.status == 0, "\(result)")
        let phrase = try String(contentsOf: home.file("identity.mnemonic"), encoding: .utf8)
        let mnemonic = try Mnemonic(phrase: phrase)
        #expect(mnemonic.words.count == 12)
        #expect(FileSystemModes.mode(home.file("identity.mnemonic")) == 0o600)
        #expect(FileSystemModes.mode(home.url) == 0o700)
        #expect(result.stdout.contains(mnemonic.words[0]))  // the phrase is shown once, in text
        let npub = NIP06.keypair(from: mnemonic).publicKey.npub
        #expect(result.stdout.contains(npub))
        let config = try String(contentsOf: home.file("config.toml"), encoding: .utf8)
        #expect(config.contains("[provider]") && config.contains("# "))

        let identity = try home.pylon("identity", "--json")
        #expect(identity.status == 0, "\(identity)")
        let json = try #require(try identity.json() as? [String: Any])
        #expect(json["npub"] as? String == npub)
        #expect(json["pubkey"] as? String == NIP06.keypair(from: mnemonic).publicKey.hex)
        #expect(json["identity_file"] as? String == home.file("identity.mnemonic").path)
        #expect(!identity.stdout.contains(mnemonic.words[1]))
    }

    @Test("an existing identity is never overwritten without --force")
    func noOverwrite() throws {
        let home = try TestHome()
        try home.pylon("init")
        let before = try String(contentsOf: home.file("identity.mnemonic"), encoding: .utf8)
        let again = try home.pylon("init")
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists") && again.stderr.contains("--force"))
        #expect(try String(contentsOf: home.file("identity.mnemonic"), encoding: .utf8) == before)
        let forced = try home.pylon("init", "--force", "--words", "24")
        #expect(forced.status == 0, "\(forced)")
        let after = try String(contentsOf: home.file("identity.mnemonic"), encoding: .utf8)
        #expect(after != before)
        #expect(try Mnemonic(phrase: after).words.count == 24)
    }

    @Test("--import reads the phrase from stdin and derives the NIP-06 key")
    func importPhrase() throws {
        let home = try TestHome()
        let phrase = "leader monkey parrot ring guide accident before fence cannon height naive bean"
        let result = try home.pylon("init", "--import", "--json", stdin: "  \(phrase.uppercased())\n")
        #expect(result.status == 0, "\(result)")
        let json = try #require(try result.json() as? [String: Any])
        #expect(json["pubkey"] as? String == "17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917")
        #expect(json["npub"] as? String == "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu")
        // --json never prints the phrase
        #expect(!result.stdout.lowercased().contains("leader"))
    }

    @Test(
        "--import rejects a bad checksum, an unknown word and a wrong count with a clear message",
        arguments: [
            ("leader monkey parrot ring guide accident before fence cannon height naive naive", "checksum"),
            ("leader monkey parrot ring guide accident before fence cannon height naive beanz", "beanz"),
            ("leader monkey parrot", "words"),
            ("", "no phrase"),
        ])
    func importRejects(phrase: String, mentions: String) throws {
        let home = try TestHome()
        let result = try home.pylon("init", "--import", stdin: phrase)
        #expect(result.status != 0)
        #expect(result.stderr.contains(mentions), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: home.file("identity.mnemonic").path))
    }

    @Test("--home before the subcommand, --home after it, and PYLON_HOME all place the files")
    func homeOptions() throws {
        let home = try TestHome()
        let other = try TestHome()
        let before = try home.run(["--home", other.path, "init", "--json"])
        #expect(before.status == 0, "\(before)")
        #expect(FileManager.default.fileExists(atPath: other.file("identity.mnemonic").path))
        #expect(!FileManager.default.fileExists(atPath: home.file("identity.mnemonic").path))
        let after = try home.run(["identity", "--home", other.path, "--json"])
        #expect(after.status == 0, "\(after)")
    }

    @Test("identity without init says how to fix it")
    func identityMissing() throws {
        let home = try TestHome()
        let result = try home.pylon("identity")
        #expect(result.status == 1)
        #expect(result.stderr.contains("pylon init"))
    }

    @Test("--words only takes 12 or 24; --version prints the version")
    func validation() throws {
        let home = try TestHome()
        let bad = try home.pylon("init", "--words", "13")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("12 or 24"))
        let version = try home.pylon("--version")
        #expect(version.status == 0)
        #expect(!version.stdout.isEmpty)
    }
}

enum FileSystemModes {
    static func mode(_ url: URL) -> Int? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }
}
