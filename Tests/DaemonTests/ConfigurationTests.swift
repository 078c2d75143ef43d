import Daemon
import Foundation
import Logging
import PylonTestSupport
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    static let nwc =
        "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4?relay=wss%3A%2F%2Frelay.example.com&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"

    func parse(_ text: String) throws -> LoadedConfiguration {
        try PylonConfiguration.parse(text, file: "/home/u/.config/pylon/config.toml")
    }

    func parseError(_ text: String) -> ConfigurationError? {
        do throws(ConfigurationError) {
            _ = try PylonConfiguration.parse(text, file: "/home/u/.config/pylon/config.toml")
            return nil
        } catch {
            return error
        }
    }

    @Test("an empty file gives the defaults; a missing file too")
    func defaults() throws {
        #expect(try parse("").configuration == .defaults)
        #expect(try parse("# only a comment\n\n").configuration == .defaults)
        let home = try TestHome()
        let loaded = try PylonConfiguration.load(from: home.file("config.toml"))
        #expect(loaded.configuration == .defaults)
        #expect(loaded.fileExists == false)
        #expect(loaded.warnings.isEmpty)
    }

    @Test("the defaults are SPEC §4's")
    func specDefaults() {
        let d = PylonConfiguration.defaults
        #expect(d.relays == ["wss://relay.damus.io", "wss://nos.lol", "wss://relay.primal.net"])
        #expect(d.provider == .init(kinds: [5050], priceMsats: 0, maxConcurrentJobs: 2, maxQueue: 64, jobTimeoutSecs: 120,
            maxInputBytes: 16384, maxRequestAgeSecs: 600, defaultModel: "", announce: true, name: "pylon", about: ""))
        #expect(d.backends.preference == [.appleFM, .ollama, .llamacpp, .openai])
        #expect(d.backends.ollamaURL == "http://127.0.0.1:11434")
        #expect(d.backends.llamacppURL == "http://127.0.0.1:8080")
        #expect(d.backends.openaiURL == "")
        #expect(d.backends.openaiAPIKeyEnv == "OPENAI_API_KEY")
        #expect(d.wallet == .init())
        #expect(d.http.listen == "127.0.0.1:3000")
        #expect(d.log.level == .info)
        #expect(d.log.format == .text)
        #expect(d.log.maxSizeMB == 10)
        #expect(d.log.maxFiles == 5)
        #expect(d.log.maximumBytes == 10 << 20)
    }

    @Test("the default config file text parses to exactly the defaults, without warnings")
    func defaultText() throws {
        let loaded = try parse(PylonConfiguration.defaultFileText)
        #expect(loaded.configuration == .defaults)
        #expect(loaded.warnings.isEmpty)
        // Every key appears in it, so a user sees what can be set.
        for key in ["relays", "kinds", "price_msats", "max_concurrent_jobs", "max_queue", "job_timeout_secs", "max_input_bytes",
            "max_request_age_secs", "default_model", "announce", "name", "about", "preference", "ollama_url", "llamacpp_url",
            "openai_url", "openai_api_key_env", "nwc", "nwc_file", "listen", "level", "format", "max_size_mb", "max_files"]
        {
            #expect(PylonConfiguration.defaultFileText.contains("\(key) ="), "missing \(key)")
        }
    }

    @Test("every section is read")
    func everySection() throws {
        let text = """
            relays = [
              "wss://one.example",   # first
              "ws://127.0.0.1:7777",
            ]

            [provider]
            kinds = [5050, 5100]
            price_msats = 2000
            max_concurrent_jobs = 4
            max_queue = 0
            job_timeout_secs = 30
            max_input_bytes = 1024
            max_request_age_secs = 60
            default_model = "llama3.2"
            announce = false
            name = "my node"
            about = \"\"\"
            Multi-line
            [not a section]
            about = "not a key"
            \"\"\"

            [backends]
            preference = ["ollama", "openai"]
            ollama_url = "http://10.0.0.2:11434"
            llamacpp_url = ""
            openai_url = "https://api.example.com/v1"
            openai_api_key_env = "MY_KEY"

            [wallet]
            nwc = "\(Self.nwc)"

            [http]
            listen = "[::1]:9090"

            [log]
            level = "debug"
            format = "json"
            max_size_mb = 0.5
            max_files = 2
            """
        let loaded = try parse(text)
        let c = loaded.configuration
        #expect(loaded.warnings.isEmpty)
        #expect(c.relays == ["wss://one.example", "ws://127.0.0.1:7777"])
        #expect(c.provider == .init(kinds: [5050, 5100], priceMsats: 2000, maxConcurrentJobs: 4, maxQueue: 0, jobTimeoutSecs: 30,
            maxInputBytes: 1024, maxRequestAgeSecs: 60, defaultModel: "llama3.2", announce: false, name: "my node",
            about: "Multi-line\n[not a section]\nabout = \"not a key\"\n"))
        #expect(c.backends == .init(preference: [.ollama, .openai], ollamaURL: "http://10.0.0.2:11434", llamacppURL: "",
            openaiURL: "https://api.example.com/v1", openaiAPIKeyEnv: "MY_KEY"))
        #expect(c.wallet.nwc?.revealed == Self.nwc)
        #expect(c.http.listenAddress?.host == "::1")
        #expect(c.http.listenAddress?.port == 9090)
        #expect(c.log == .init(level: .debug, format: .json, maxSizeMB: 0.5, maxFiles: 2))
        #expect(c.log.maximumBytes == 524_288)
        #expect(try parse("[log]\nmax_size_mb = 3\nmax_files = 0").configuration.log == .init(maxSizeMB: 3, maxFiles: 0))
    }

    @Test("an unknown key is a warning that names it, its section and its line")
    func unknownKeys() throws {
        let text = """
            relays = []
            colour = "blue"

            [provider]
            max_queu = 5
            [metrics]
            port = 9
            """
        let loaded = try parse(text)
        #expect(loaded.configuration.relays.isEmpty)
        let warnings = loaded.warnings.map(\.description)
        #expect(warnings.count == 3)
        #expect(warnings[0] == "/home/u/.config/pylon/config.toml:2: unknown key \"colour\" (ignored)")
        #expect(warnings[1].hasPrefix("/home/u/.config/pylon/config.toml:5: unknown key \"max_queu\" in [provider] (ignored)"))
        #expect(warnings[1].contains("did you mean \"max_queue\"?"))
        #expect(warnings[2].hasPrefix("/home/u/.config/pylon/config.toml:6: unknown section [metrics]"))
    }

    @Test(
        "a wrong type or value names the file, the line, the key and what was expected",
        arguments: [
            ("[provider]\nmax_concurrent_jobs = \"two\"", 2, "provider.max_concurrent_jobs", "expected an integer from 1 to 1024, got \"two\""),
            ("[provider]\n\nmax_concurrent_jobs = 0", 3, "provider.max_concurrent_jobs", "got 0"),
            ("[provider]\nmax_concurrent_jobs = 2.5", 2, "provider.max_concurrent_jobs", "got 2.5"),
            ("[provider]\nkinds = [1]", 2, "provider.kinds", "from 5000 to 5999"),
            ("[provider]\nannounce = \"yes\"", 2, "provider.announce", "expected true or false"),
            ("relays = [\"https://nope\"]", 1, "relays", "wss://"),
            ("relays = \"wss://one\"", 1, "relays", "an array"),
            ("[backends]\nollama_url = \"not a url\"", 2, "backends.ollama_url", "http:// or https:// URL"),
            ("[backends]\npreference = [\"ollama\", \"gpt\"]", 2, "backends.preference", "apple_fm, ollama, llamacpp, openai"),
            ("[backends]\nopenai_api_key_env = \"1 BAD\"", 2, "backends.openai_api_key_env", "environment variable"),
            ("[http]\nlisten = \"3000\"", 2, "http.listen", "host:port"),
            ("[log]\nformat = \"xml\"", 2, "log.format", "\"text\" or \"json\""),
            ("[log]\nlevel = \"loud\"", 2, "log.level", "trace, debug, info, notice, warning, error, critical"),
            ("[log]\nmax_size_mb = 0", 2, "log.max_size_mb", "above 0 and at most 10240"),
            ("[log]\nmax_size_mb = \"10MB\"", 2, "log.max_size_mb", "got \"10MB\""),
            ("[log]\nmax_files = -1", 2, "log.max_files", "from 0 to 1000"),
            ("provider = 5", 1, "provider", "expected a table"),
            ("[provider]\nprice_msats = 1000", 2, "provider.price_msats", "needs a wallet"),
            ("[provider.extra]\nx = 1\n[provider]\nmax_queue = -1", 4, "provider.max_queue", "from 0 to 1000000"),
        ])
    func wrongValues(text: String, line: Int, key: String, expected: String) throws {
        let error = try #require(parseError(text))
        #expect(error.code == .invalidValue)
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.description.hasPrefix("/home/u/.config/pylon/config.toml:\(line): \(key): "))
        #expect(error.description.contains(expected), "\(error.description)")
    }

    @Test("all problems are reported at once, in file order")
    func severalIssues() throws {
        let error = try #require(parseError("[log]\nformat = \"xml\"\n[provider]\nmax_queue = \"x\"\nmax_concurrent_jobs = 0"))
        #expect(error.issues.map(\.line) == [2, 4, 5])
        #expect(error.description.split(separator: "\n").count == 3)
    }

    @Test("a TOML syntax error gives the line and column")
    func syntaxError() throws {
        let error = try #require(parseError("relays = []\n[provider]\nmax_queue = = 3\n"))
        #expect(error.code == .syntax)
        #expect(error.line == 3)
        #expect(error.issues.first?.column != nil)
        #expect(error.description.hasPrefix("/home/u/.config/pylon/config.toml:3:"))
        #expect(error.description.contains("invalid TOML"))
        let duplicate = try #require(parseError("[log]\nlevel = \"info\"\nlevel = \"debug\"\n"))
        #expect(duplicate.code == .syntax)
        #expect(duplicate.line == 3)
    }

    @Test("an unreadable or non-UTF-8 file is an error naming it")
    func unreadable() throws {
        let home = try TestHome()
        let file = home.file("config.toml")
        try Data([0xFF, 0xFE, 0x00]).write(to: file)
        #expect {
            try PylonConfiguration.load(from: file)
        } throws: { error in
            (error as? ConfigurationError)?.code == .unreadable && "\(error)".contains(file.path(percentEncoded: false))
        }
    }

    @Test("the NWC URI never shows: not in errors, not in descriptions, not in dumps")
    func secrets() throws {
        let secretPart = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
        let bad = try #require(parseError("[wallet]\nnwc = \"nostr+walletconnect://zzz?secret=\(secretPart)\""))
        #expect(bad.key == "wallet.nwc")
        #expect(bad.line == 2)
        #expect(!bad.description.contains(secretPart))
        #expect(!bad.description.contains("zzz"))
        let wrongType = try #require(parseError("[wallet]\nnwc = 12345678"))
        #expect(!wrongType.description.contains("12345678"))

        let config = try parse("[wallet]\nnwc = \"\(Self.nwc)\"").configuration
        var dumped = ""
        dump(config, to: &dumped)
        for text in [String(describing: config), String(reflecting: config), "\(config.wallet)", dumped] {
            #expect(!text.contains(secretPart))
            #expect(!text.contains("walletconnect"))
        }
        #expect("\(Secret("x"))" == "<redacted>")
        #expect(Secret("abc") == Secret("abc"))
        #expect(Secret("abc") != Secret("abd"))
        #expect(Secret("abc") != Secret("abcd"))
    }

    @Test("nwc_file is resolved against the config directory and read on demand")
    func nwcFile() throws {
        let home = try TestHome()
        try home.write(Self.nwc + "\n", to: "nwc.secret")
        let file = try home.write("[wallet]\nnwc_file = \"nwc.secret\"\n[provider]\nprice_msats = 5", to: "config.toml")
        let config = try PylonConfiguration.load(from: file).configuration
        #expect(config.wallet.nwcFile == home.file("nwc.secret").standardizedFileURL.path(percentEncoded: false))
        #expect(try config.wallet.connectionURI()?.revealed == Self.nwc)
        let both = try #require(parseError("[wallet]\nnwc = \"\(Self.nwc)\"\nnwc_file = \"x\""))
        #expect(both.key == "wallet.nwc_file")
        #expect(both.line == 3)
    }

    @Test("a reload diff lists what changed and what needs a restart")
    func changes() throws {
        let old = PylonConfiguration.defaults
        var new = old
        new.relays = ["wss://other.example"]
        new.provider.name = "renamed"
        new.wallet.nwc = Secret(Self.nwc)
        new.http.listen = "127.0.0.1:4000"
        new.log.level = .debug
        new.log.maxFiles = 9
        let change = PylonConfiguration.changes(from: old, to: new)
        #expect(change.changedKeys == ["relays", "provider.name", "wallet.nwc", "http.listen", "log.level", "log.max_files"])
        #expect(change.needsRestart == ["http.listen", "log.max_files"])
        #expect(change.appliedLive == ["relays", "provider.name", "wallet.nwc", "log.level"])
        #expect(change.announcementChanged)
        #expect(change.changed("provider"))
        #expect(!change.changed("backends"))
        #expect(change.summary.contains("http.listen, log.max_files changed but needs a restart"))
        #expect(!change.summary.contains("walletconnect"))
        #expect(PylonConfiguration.changes(from: old, to: old).isEmpty)
    }
}
