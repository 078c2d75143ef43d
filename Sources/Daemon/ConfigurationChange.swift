/// What differs between the running configuration and a newly read one (SPEC §12 "Reload").
///
/// `relays`, every `[provider]` key, `[backends]`, `[wallet]`, `[log].level` and `[log].format`
/// apply live; `[http].listen` and the log file's rotation limits need a restart, and
/// ``needsRestart`` says so.
public struct ConfigurationChange: Sendable, Equatable {
    /// The dotted keys that changed, in file order (`relays`, `provider.price_msats`, `wallet.nwc`).
    public var changedKeys: [String]

    /// Keys that changed but take effect only after a restart.
    public static let restartKeys: Set<String> = ["http.listen", "log.max_size_mb", "log.max_files"]

    public init(changedKeys: [String]) {
        self.changedKeys = changedKeys
    }

    public var isEmpty: Bool { changedKeys.isEmpty }

    /// Changed keys that the running daemon cannot apply.
    public var needsRestart: [String] { changedKeys.filter { Self.restartKeys.contains($0) } }

    /// Changed keys that apply live.
    public var appliedLive: [String] { changedKeys.filter { !Self.restartKeys.contains($0) } }

    /// Whether any key of a section (`provider`, `backends`, `wallet`, `http`, `log`) or `relays` changed.
    public func changed(_ section: String) -> Bool {
        changedKeys.contains { $0 == section || $0.hasPrefix(section + ".") }
    }

    /// A change of name, about or kinds, which republishes the NIP-89 announcement.
    public var announcementChanged: Bool {
        changedKeys.contains { ["provider.name", "provider.about", "provider.kinds", "provider.announce"].contains($0) }
    }

    /// One sentence for logs and the `Reload` answer.
    public var summary: String {
        if isEmpty { return "configuration unchanged" }
        var parts: [String] = []
        if !appliedLive.isEmpty { parts.append("applied \(appliedLive.joined(separator: ", "))") }
        if !needsRestart.isEmpty {
            parts.append("\(needsRestart.joined(separator: ", ")) changed but needs a restart to take effect (pylon stop; pylon start)")
        }
        return parts.joined(separator: "; ")
    }
}

extension PylonConfiguration {
    /// The keys that differ between `old` and `new`. Secret values are compared, never shown.
    public static func changes(from old: PylonConfiguration, to new: PylonConfiguration) -> ConfigurationChange {
        var keys: [String] = []
        func check<T: Equatable>(_ key: String, _ path: KeyPath<PylonConfiguration, T>) {
            if old[keyPath: path] != new[keyPath: path] { keys.append(key) }
        }
        check("relays", \.relays)
        check("provider.kinds", \.provider.kinds)
        check("provider.price_msats", \.provider.priceMsats)
        check("provider.max_concurrent_jobs", \.provider.maxConcurrentJobs)
        check("provider.max_queue", \.provider.maxQueue)
        check("provider.job_timeout_secs", \.provider.jobTimeoutSecs)
        check("provider.max_input_bytes", \.provider.maxInputBytes)
        check("provider.max_request_age_secs", \.provider.maxRequestAgeSecs)
        check("provider.default_model", \.provider.defaultModel)
        check("provider.announce", \.provider.announce)
        check("provider.name", \.provider.name)
        check("provider.about", \.provider.about)
        check("backends.preference", \.backends.preference)
        check("backends.ollama_url", \.backends.ollamaURL)
        check("backends.llamacpp_url", \.backends.llamacppURL)
        check("backends.openai_url", \.backends.openaiURL)
        check("backends.openai_api_key_env", \.backends.openaiAPIKeyEnv)
        check("wallet.nwc", \.wallet.nwc)
        check("wallet.nwc_file", \.wallet.nwcFile)
        check("http.listen", \.http.listen)
        check("log.level", \.log.level)
        check("log.format", \.log.format)
        check("log.max_size_mb", \.log.maxSizeMB)
        check("log.max_files", \.log.maxFiles)
        return ConfigurationChange(changedKeys: keys)
    }
}
