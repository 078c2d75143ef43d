/// The timeouts every backend call runs under. None of them is optional: a backend that stops
/// answering always ends in a `timeout` error, never in a silent hang.
public struct BackendTimeouts: Sendable, Equatable {
    /// To open a TCP connection to the server.
    public var connect: Duration
    /// From sending a request to the first piece of output (includes the model loading).
    public var firstToken: Duration
    /// Between two pieces of the response once output has started.
    public var idle: Duration
    /// The whole request, when the request itself carries no deadline.
    public var total: Duration
    /// A detection probe (`/api/tags`, `/health`, `/v1/models`), answer included.
    public var probe: Duration

    public init(
        connect: Duration = .seconds(5),
        firstToken: Duration = .seconds(60),
        idle: Duration = .seconds(30),
        total: Duration = .seconds(300),
        probe: Duration = .seconds(3)
    ) {
        self.connect = connect
        self.firstToken = firstToken
        self.idle = idle
        self.total = total
        self.probe = probe
    }
}

/// Bounds on what a server may send; past them the response is a `badResponse` error.
public struct BackendLimits: Sendable, Equatable {
    /// The longest line of an NDJSON or SSE stream, and the largest non-streamed chat answer.
    public var maxLineBytes: Int
    /// The largest answer to a probe (`/api/tags`, `/v1/models`) or an error body.
    public var maxProbeBytes: Int

    public init(maxLineBytes: Int = 1 << 20, maxProbeBytes: Int = 4 << 20) {
        self.maxLineBytes = maxLineBytes
        self.maxProbeBytes = maxProbeBytes
    }
}

extension BackendRegistry {
    /// `[backends]` from config.toml, plus the knobs tests and the daemon may set. A plain value:
    /// the daemon maps TOML onto it and hands a new one to ``BackendRegistry/update(configuration:)``
    /// on reload.
    public struct Configuration: Sendable, Equatable {
        /// Backend names in order of preference. Known names: `apple_fm`, `ollama`, `llamacpp`,
        /// `openai`; a backend not listed is not used, an unknown name is ignored (and logged).
        public var preference: [String]
        /// Ollama's base URL; "" disables Ollama.
        public var ollamaURL: String
        /// llama.cpp server's base URL, with or without a trailing `/v1`; "" disables it.
        public var llamacppURL: String
        /// Any OpenAI-compatible server's base URL, with or without a trailing `/v1`; "" disables it.
        public var openaiURL: String
        /// The environment variable that holds the API key for `openaiURL` (sent as a bearer token).
        public var openaiAPIKeyEnv: String
        /// The model used when a request names none; "" means the first model of the first ready
        /// backend.
        public var defaultModel: String
        /// How often detection runs.
        public var detectionInterval: Duration
        /// The timeouts of every call. `connect` applies from the registry's start (the HTTP client
        /// is made once); the others apply live.
        public var timeouts: BackendTimeouts
        public var limits: BackendLimits

        /// The order used when config.toml sets none.
        public static let defaultPreference = [
            BackendName.appleFM, BackendName.ollama, BackendName.llamacpp, BackendName.openai,
        ]

        public init(
            preference: [String] = Configuration.defaultPreference,
            ollamaURL: String = "http://127.0.0.1:11434",
            llamacppURL: String = "http://127.0.0.1:8080",
            openaiURL: String = "",
            openaiAPIKeyEnv: String = "OPENAI_API_KEY",
            defaultModel: String = "",
            detectionInterval: Duration = .seconds(30),
            timeouts: BackendTimeouts = BackendTimeouts(),
            limits: BackendLimits = BackendLimits()
        ) {
            self.preference = preference
            self.ollamaURL = ollamaURL
            self.llamacppURL = llamacppURL
            self.openaiURL = openaiURL
            self.openaiAPIKeyEnv = openaiAPIKeyEnv
            self.defaultModel = defaultModel
            self.detectionInterval = detectionInterval
            self.timeouts = timeouts
            self.limits = limits
        }
    }
}

/// The backend names `[backends].preference` knows.
public enum BackendName {
    public static let appleFM = "apple_fm"
    public static let ollama = "ollama"
    public static let llamacpp = "llamacpp"
    public static let openai = "openai"

    public static let all = [appleFM, ollama, llamacpp, openai]
}

/// Base URL handling shared by the HTTP backends.
enum ServerURL {
    /// The URL without trailing slashes and, when `stripV1`, without a trailing `/v1`: SPEC §12 lets
    /// `openai_url` and `llamacpp_url` be given either way. Returns nil for something that is not an
    /// http(s) URL with a host.
    static func root(_ raw: String, stripV1: Bool) -> String? {
        var url = raw.trimmingWhitespace()
        while url.hasSuffix("/") { url.removeLast() }
        if stripV1, url.hasSuffix("/v1") { url.removeLast(3) }
        while url.hasSuffix("/") { url.removeLast() }
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !host.isEmpty, !host.contains("@"), !url.contains(" ") else { return nil }
        return url
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

extension Duration {
    /// "30 s", "0.25 s": for messages.
    var secondsText: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds) s" }
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(Double(millis) / 1000) s"
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
