import Foundation
public import Logging
import NostrCore

/// The daemon's configuration (`config.toml`, SPEC §4): a plain value with every default filled in.
///
/// Read it with ``load(from:)`` or ``parse(_:file:baseDirectory:)``; compare two with
/// ``changes(from:to:)`` on reload. Every key is optional; the defaults are ``defaults``.
public struct PylonConfiguration: Sendable, Equatable {
    /// Relay URLs (`ws://` or `wss://`).
    public var relays: [String]
    public var provider: Provider
    public var backends: Backends
    public var wallet: Wallet
    public var http: HTTP
    public var log: Log

    public init(
        relays: [String] = ["wss://relay.damus.io", "wss://nos.lol", "wss://relay.primal.net"],
        provider: Provider = Provider(), backends: Backends = Backends(), wallet: Wallet = Wallet(), http: HTTP = HTTP(),
        log: Log = Log()
    ) {
        self.relays = relays
        self.provider = provider
        self.backends = backends
        self.wallet = wallet
        self.http = http
        self.log = log
    }

    /// Every key at its default.
    public static let defaults = PylonConfiguration()

    /// `[provider]`: what the node sells and how much work it takes on.
    public struct Provider: Sendable, Equatable {
        /// NIP-90 job request kinds served (5000-5999).
        public var kinds: [Int]
        /// Price per job; 0 is free, more needs a wallet.
        public var priceMsats: UInt64
        public var maxConcurrentJobs: Int
        /// Jobs waiting for a slot; 0 refuses a job when all slots are busy.
        public var maxQueue: Int
        public var jobTimeoutSecs: Int
        public var maxInputBytes: Int
        /// Requests older than this are ignored (SPEC §12).
        public var maxRequestAgeSecs: Int
        /// "" means the first model of the first ready backend.
        public var defaultModel: String
        /// Publish NIP-89 handler information and the heartbeat.
        public var announce: Bool
        public var name: String
        public var about: String
        /// Requests one customer may make per minute; 0 is no limit.
        public var rateLimitPerMinute: Int
        /// Whether `url` inputs are fetched (off by default: the provider would fetch what strangers name).
        public var allowURLInputs: Bool

        public init(
            kinds: [Int] = [5050], priceMsats: UInt64 = 0, maxConcurrentJobs: Int = 2, maxQueue: Int = 64,
            jobTimeoutSecs: Int = 120, maxInputBytes: Int = 16384, maxRequestAgeSecs: Int = 600, defaultModel: String = "",
            announce: Bool = true, name: String = "pylon", about: String = "", rateLimitPerMinute: Int = 30,
            allowURLInputs: Bool = false
        ) {
            self.kinds = kinds
            self.priceMsats = priceMsats
            self.maxConcurrentJobs = maxConcurrentJobs
            self.maxQueue = maxQueue
            self.jobTimeoutSecs = jobTimeoutSecs
            self.maxInputBytes = maxInputBytes
            self.maxRequestAgeSecs = maxRequestAgeSecs
            self.defaultModel = defaultModel
            self.announce = announce
            self.name = name
            self.about = about
            self.rateLimitPerMinute = rateLimitPerMinute
            self.allowURLInputs = allowURLInputs
        }
    }

    /// The inference backends a provider may use.
    public enum BackendName: String, Sendable, Equatable, CaseIterable {
        case appleFM = "apple_fm"
        case ollama
        case llamacpp
        case openai
    }

    /// `[backends]`.
    public struct Backends: Sendable, Equatable {
        /// Tried in this order; an unreachable one is skipped.
        public var preference: [BackendName]
        /// Base URLs; "" disables that backend.
        public var ollamaURL: String
        public var llamacppURL: String
        /// Any OpenAI-compatible server, with or without a trailing `/v1`; "" for none.
        public var openaiURL: String
        /// The environment variable holding the OpenAI API key (the key itself never sits in the file).
        public var openaiAPIKeyEnv: String

        public init(
            preference: [BackendName] = [.appleFM, .ollama, .llamacpp, .openai], ollamaURL: String = "http://127.0.0.1:11434",
            llamacppURL: String = "http://127.0.0.1:8080", openaiURL: String = "", openaiAPIKeyEnv: String = "OPENAI_API_KEY"
        ) {
            self.preference = preference
            self.ollamaURL = ollamaURL
            self.llamacppURL = llamacppURL
            self.openaiURL = openaiURL
            self.openaiAPIKeyEnv = openaiAPIKeyEnv
        }
    }

    /// `[wallet]`: the Nostr Wallet Connect (NIP-47) connection, inline or in a file.
    public struct Wallet: Sendable, Equatable {
        /// The `nostr+walletconnect://` URI, when set inline.
        public var nwc: Secret?
        /// A file holding the URI; relative paths are resolved against the config file's directory.
        public var nwcFile: String?
        /// How long a priced job's invoice may stay unpaid; then the job is closed with an error.
        public var invoiceExpirySecs: Int

        public init(nwc: Secret? = nil, nwcFile: String? = nil, invoiceExpirySecs: Int = 600) {
            self.nwc = nwc
            self.nwcFile = nwcFile
            self.invoiceExpirySecs = invoiceExpirySecs
        }

        public var isConfigured: Bool { nwc != nil || nwcFile != nil }

        /// The connection URI: the inline one, or the trimmed content of ``nwcFile``.
        public func connectionURI() throws(ConfigurationError) -> Secret? {
            if let nwc { return nwc }
            guard let nwcFile else { return nil }
            let text: String
            do {
                text = try String(contentsOfFile: nwcFile, encoding: .utf8)
            } catch {
                throw ConfigurationError(
                    .unreadable, file: nwcFile,
                    issues: [.init(key: "wallet.nwc_file", message: "cannot read the NWC file: \(Self.reason(error))")])
            }
            let uri = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard NWCURI.isValid(uri) else {
                throw ConfigurationError(
                    .invalidValue, file: nwcFile,
                    issues: [.init(key: "wallet.nwc_file", message: NWCURI.expectation)])
            }
            return Secret(uri)
        }

        private static func reason(_ error: any Error) -> String {
            let nsError = error as NSError
            if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                return String(cString: strerror(Int32(underlying.code)))
            }
            return nsError.localizedDescription
        }
    }

    /// `[http]`: observability endpoints.
    public struct HTTP: Sendable, Equatable {
        /// `host:port` (or `[v6]:port`); "" disables HTTP.
        public var listen: String

        public init(listen: String = "127.0.0.1:3000") {
            self.listen = listen
        }

        /// The parsed address, `nil` when HTTP is disabled.
        public var listenAddress: (host: String, port: Int)? {
            ListenAddress.parse(listen)
        }
    }

    /// The log line format.
    public enum LogFormat: String, Sendable, Equatable, CaseIterable {
        case text
        case json
    }

    /// `[log]`.
    public struct Log: Sendable, Equatable {
        /// Overridden by the `PYLON_LOG` environment variable.
        public var level: Logger.Level
        public var format: LogFormat
        /// `pylon.log` is rotated when a line would take it past this many MB (1 MB = 2^20 bytes).
        public var maxSizeMB: Double
        /// Rotated files kept besides `pylon.log` (`pylon.log.1` newest … `pylon.log.N`); 0 keeps none.
        public var maxFiles: Int

        public init(level: Logger.Level = .info, format: LogFormat = .text, maxSizeMB: Double = 10, maxFiles: Int = 5) {
            self.level = level
            self.format = format
            self.maxSizeMB = maxSizeMB
            self.maxFiles = maxFiles
        }

        /// `maxSizeMB` in bytes (at least one).
        public var maximumBytes: Int {
            max(1, Int((maxSizeMB * 1_048_576).rounded()))
        }
    }
}

/// `host:port` parsing for `[http].listen`.
enum ListenAddress {
    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard !text.isEmpty else { return nil }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }  // an IPv6 address needs brackets
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace), let port = Int(portText), (0...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }
}

/// The `[wallet]` connection, checked with NIP-47's own parser (NostrCore's `WalletConnectURI`);
/// the message never echoes the value, which holds the wallet's secret.
enum NWCURI {
    static let expectation = "expected a nostr+walletconnect:// URI with a 64-hex wallet pubkey, a relay and a 64-hex secret (the value is not shown)"

    static func isValid(_ uri: String) -> Bool {
        (try? WalletConnectURI(parsing: uri)) != nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
