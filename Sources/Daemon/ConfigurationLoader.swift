public import Foundation
import Logging
import TOMLKit

/// Something in the file that pylon ignores (an unknown key or section): reported, never fatal.
public struct ConfigurationWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// The dotted key as written (`provider.max_job`).
    public var key: String
    public var message: String

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return "\(place): \(message)"
    }
}

/// A configuration as read from a file, with what was ignored.
public struct LoadedConfiguration: Sendable, Equatable {
    public var configuration: PylonConfiguration
    public var warnings: [ConfigurationWarning]
    /// The file read (or looked for).
    public var file: URL
    /// `false` when the file does not exist and the defaults apply.
    public var fileExists: Bool
}

extension PylonConfiguration {
    /// Reads `file`. A missing file gives the defaults; an empty one too.
    public static func load(from file: URL) throws(ConfigurationError) -> LoadedConfiguration {
        let path = file.path(percentEncoded: false)
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            let code = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code
            if code == Int(ENOENT) || (error as NSError).code == NSFileReadNoSuchFileError {
                var configuration = PylonConfiguration.defaults
                // `pylon wallet connect` keeps the connection next to where the config would be.
                let connected = file.deletingLastPathComponent().appending(path: PylonPaths.walletFileName)
                if FileManager.default.fileExists(atPath: connected.path(percentEncoded: false)) {
                    configuration.wallet.nwcFile = connected.path(percentEncoded: false)
                }
                return LoadedConfiguration(configuration: configuration, warnings: [], file: file, fileExists: false)
            }
            let reason = code.map { String(cString: strerror(Int32($0))) } ?? error.localizedDescription
            throw ConfigurationError(.unreadable, file: path, issues: [.init(message: "cannot read the config file: \(reason)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.unreadable, file: path, issues: [.init(message: "the config file is not UTF-8 text")])
        }
        var loaded = try parse(text, file: path, baseDirectory: file.deletingLastPathComponent())
        loaded.file = file
        return loaded
    }

    /// Parses TOML `text`; `file` names it in messages, `baseDirectory` resolves a relative `nwc_file`.
    public static func parse(_ text: String, file: String, baseDirectory: URL? = nil) throws(ConfigurationError)
        -> LoadedConfiguration
    {
        // The TOML parser reads a C string: a NUL byte would silently cut the file short.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].count(where: { $0 == 0x0A }) + 1
            throw ConfigurationError(.syntax, file: file, issues: [.init(line: line, message: "invalid TOML: a NUL byte")])
        }
        let root: [String: TOMLNode]
        do {
            let table = try TOMLTable(string: text)
            root = TOMLConversion.convert(table)
            // TOMLKit never frees a parsed document; clearing it releases everything but the root.
            table.clear()
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                .syntax, file: file,
                issues: [
                    .init(
                        line: error.source.begin.line, column: error.source.begin.column,
                        message: "invalid TOML: \(error.description)")
                ])
        } catch {
            throw ConfigurationError(.syntax, file: file, issues: [.init(message: "invalid TOML: \(error)")])
        }
        var reader = ConfigurationReader(
            file: file, locator: TOMLKeyLocator(source: text),
            baseDirectory: baseDirectory ?? URL(fileURLWithPath: file).deletingLastPathComponent())
        let configuration = reader.read(root)
        if !reader.issues.isEmpty {
            let sorted = reader.issues.sorted { ($0.line ?? .max, $0.key ?? "") < ($1.line ?? .max, $1.key ?? "") }
            throw ConfigurationError(.invalidValue, file: file, issues: sorted)
        }
        let warnings = reader.warnings.sorted { ($0.line ?? .max, $0.key) < ($1.line ?? .max, $1.key) }
        return LoadedConfiguration(
            configuration: configuration, warnings: warnings, file: URL(fileURLWithPath: file), fileExists: true)
    }
}

/// Converts TOMLKit's values to ``TOMLNode``.
enum TOMLConversion {
    static func convert(_ table: TOMLTable) -> [String: TOMLNode] {
        var result: [String: TOMLNode] = [:]
        for key in table.keys {
            guard let value = table[key] else { continue }
            result[key] = convert(value)
        }
        return result
    }

    static func convert(_ value: any TOMLValueConvertible) -> TOMLNode {
        switch value.type {
        case .table: return .table(value.table.map(convert) ?? [:])
        case .array: return .array(value.array.map { $0.map { convert($0) } } ?? [])
        case .string: return .string(value.string ?? "")
        case .int: return .int(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .date, .time, .dateTime: return .dateTime(value.debugDescription)
        }
    }
}

/// Maps the TOML tree onto ``PylonConfiguration``, collecting every problem rather than stopping at
/// the first, so one run of `pylon doctor` or a reload names them all.
struct ConfigurationReader {
    let file: String
    let locator: TOMLKeyLocator
    let baseDirectory: URL
    var issues: [ConfigurationError.Issue] = []
    var warnings: [ConfigurationWarning] = []

    static let sections: [String: [String]] = [
        "provider": [
            "kinds", "price_msats", "max_concurrent_jobs", "max_queue", "job_timeout_secs", "max_input_bytes",
            "max_request_age_secs", "default_model", "announce", "name", "about", "rate_limit_per_minute", "allow_url_inputs",
        ],
        "backends": ["preference", "ollama_url", "llamacpp_url", "openai_url", "openai_api_key_env"],
        "wallet": ["nwc", "nwc_file", "invoice_expiry_secs"],
        "http": ["listen"],
        "log": ["level", "format", "max_size_mb", "max_files"],
    ]
    static let topLevelKeys = ["relays"] + sections.keys.sorted()
    /// Keys whose values are never shown.
    static let secretKeys: Set<String> = ["wallet.nwc"]

    init(file: String, locator: TOMLKeyLocator, baseDirectory: URL) {
        self.file = file
        self.locator = locator
        self.baseDirectory = baseDirectory
    }

    mutating func read(_ root: [String: TOMLNode]) -> PylonConfiguration {
        var config = PylonConfiguration.defaults
        for key in root.keys.sorted() where !Self.topLevelKeys.contains(key) {
            let isTable = if case .table = root[key] { true } else { false }
            warn([key], isTable ? "unknown section [\(key)] (ignored)\(suggestion(key, Self.topLevelKeys))"
                : "unknown key \"\(key)\" (ignored)\(suggestion(key, Self.topLevelKeys))")
        }
        if let value = root["relays"] {
            config.relays = relayList(value, ["relays"]) ?? config.relays
        }
        for (section, keys) in Self.sections {
            guard let value = root[section] else { continue }
            guard case .table(let table) = value else {
                fail([section], "expected a table ([\(section)]), got \(value.typeDescription)", value)
                continue
            }
            for key in table.keys.sorted() where !keys.contains(key) {
                warn([section, key], "unknown key \"\(key)\" in [\(section)] (ignored)\(suggestion(key, keys))")
            }
            switch section {
            case "provider": readProvider(table, into: &config.provider)
            case "backends": readBackends(table, into: &config.backends)
            case "wallet": readWallet(table, into: &config.wallet)
            case "http": readHTTP(table, into: &config.http)
            case "log": readLog(table, into: &config.log)
            default: break
            }
        }
        // `pylon wallet connect` keeps the connection next to the config: used when [wallet] names none.
        let connected = baseDirectory.appending(path: PylonPaths.walletFileName)
        if !config.wallet.isConfigured, FileManager.default.fileExists(atPath: connected.path(percentEncoded: false)) {
            config.wallet.nwcFile = connected.path(percentEncoded: false)
        }
        if config.provider.priceMsats > 0 && !config.wallet.isConfigured && issues.isEmpty {
            issues.append(
                .init(
                    key: "provider.price_msats", line: locator.line(of: ["provider", "price_msats"]),
                    message: "a price above 0 needs a wallet to be paid into: run `pylon wallet connect URI`, set [wallet] nwc or nwc_file, or price_msats = 0"))
        }
        return config
    }

    // MARK: Sections

    mutating func readProvider(_ table: [String: TOMLNode], into provider: inout PylonConfiguration.Provider) {
        let s = "provider"
        if let value = table["kinds"] {
            let path = [s, "kinds"]
            let expected = "an array of job kinds from 5000 to 5999, such as [5050]"
            if case .array(let elements) = value, !elements.isEmpty {
                var kinds: [Int] = []
                var valid = true
                for element in elements {
                    guard case .int(let kind) = element, (5000...5999).contains(kind) else {
                        fail(path, expected, element)
                        valid = false
                        break
                    }
                    if !kinds.contains(kind) { kinds.append(kind) }
                }
                if valid { provider.kinds = kinds }
            } else {
                fail(path, expected, value)
            }
        }
        if let v = integer(table, s, "price_msats", 0...Int.max, "a price in millisatoshis (0 or more)") {
            provider.priceMsats = UInt64(v)
        }
        if let v = integer(table, s, "max_concurrent_jobs", 1...1024, "an integer from 1 to 1024") { provider.maxConcurrentJobs = v }
        if let v = integer(table, s, "max_queue", 0...1_000_000, "an integer from 0 to 1000000") { provider.maxQueue = v }
        if let v = integer(table, s, "job_timeout_secs", 1...86_400, "a number of seconds from 1 to 86400") {
            provider.jobTimeoutSecs = v
        }
        if let v = integer(table, s, "max_input_bytes", 1...(64 << 20), "a number of bytes from 1 to 67108864") {
            provider.maxInputBytes = v
        }
        if let v = integer(table, s, "max_request_age_secs", 1...2_592_000, "a number of seconds from 1 to 2592000") {
            provider.maxRequestAgeSecs = v
        }
        if let v = string(table, s, "default_model") { provider.defaultModel = v }
        if let v = bool(table, s, "announce") { provider.announce = v }
        if let v = string(table, s, "name") { provider.name = v }
        if let v = string(table, s, "about") { provider.about = v }
        if let v = integer(table, s, "rate_limit_per_minute", 0...1_000_000, "requests per customer per minute (0 = no limit)") {
            provider.rateLimitPerMinute = v
        }
        if let v = bool(table, s, "allow_url_inputs") { provider.allowURLInputs = v }
    }

    mutating func readBackends(_ table: [String: TOMLNode], into backends: inout PylonConfiguration.Backends) {
        let s = "backends"
        if let value = table["preference"] {
            let names = PylonConfiguration.BackendName.allCases.map(\.rawValue).joined(separator: ", ")
            let expected = "an array of backend names, each one of \(names), without repeats"
            if case .array(let elements) = value {
                var preference: [PylonConfiguration.BackendName] = []
                var valid = true
                for element in elements {
                    guard case .string(let name) = element, let backend = PylonConfiguration.BackendName(rawValue: name),
                        !preference.contains(backend)
                    else {
                        fail([s, "preference"], expected, element)
                        valid = false
                        break
                    }
                    preference.append(backend)
                }
                if valid { backends.preference = preference }
            } else {
                fail([s, "preference"], expected, value)
            }
        }
        if let v = httpURL(table, s, "ollama_url") { backends.ollamaURL = v }
        if let v = httpURL(table, s, "llamacpp_url") { backends.llamacppURL = v }
        if let v = httpURL(table, s, "openai_url") { backends.openaiURL = v }
        if let v = string(table, s, "openai_api_key_env") {
            let valid = !v.isEmpty && v.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
                && !(v.utf8.first.map { $0 >= 0x30 && $0 <= 0x39 } ?? true)
            if valid {
                backends.openaiAPIKeyEnv = v
            } else {
                fail([s, "openai_api_key_env"], "the name of an environment variable, such as OPENAI_API_KEY", .string(v))
            }
        }
    }

    mutating func readWallet(_ table: [String: TOMLNode], into wallet: inout PylonConfiguration.Wallet) {
        let s = "wallet"
        if let v = string(table, s, "nwc"), !v.isEmpty {
            if NWCURI.isValid(v) {
                wallet.nwc = Secret(v)
            } else {
                issues.append(.init(key: "wallet.nwc", line: locator.line(of: [s, "nwc"]), message: NWCURI.expectation))
            }
        }
        if let v = string(table, s, "nwc_file"), !v.isEmpty {
            let expanded = (v as NSString).expandingTildeInPath
            let url = expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded) : baseDirectory.appending(path: expanded)
            wallet.nwcFile = url.standardizedFileURL.path(percentEncoded: false)
        }
        if let v = integer(table, s, "invoice_expiry_secs", 1...86_400, "a number of seconds from 1 to 86400") { wallet.invoiceExpirySecs = v }
        if wallet.nwc != nil && wallet.nwcFile != nil {
            issues.append(
                .init(
                    key: "wallet.nwc_file", line: locator.line(of: [s, "nwc_file"]),
                    message: "set either nwc or nwc_file, not both"))
        }
    }

    mutating func readHTTP(_ table: [String: TOMLNode], into http: inout PylonConfiguration.HTTP) {
        if let v = string(table, "http", "listen") {
            if v.isEmpty || ListenAddress.parse(v) != nil {
                http.listen = v
            } else {
                fail(["http", "listen"], "\"host:port\" such as \"127.0.0.1:3000\" (\"[::1]:3000\" for IPv6), or \"\" to disable", .string(v))
            }
        }
    }

    mutating func readLog(_ table: [String: TOMLNode], into log: inout PylonConfiguration.Log) {
        if let v = string(table, "log", "level") {
            if let level = Logger.Level(rawValue: v.lowercased()) {
                log.level = level
            } else {
                fail(["log", "level"], "one of trace, debug, info, notice, warning, error, critical", .string(v))
            }
        }
        if let v = string(table, "log", "format") {
            if let format = PylonConfiguration.LogFormat(rawValue: v) {
                log.format = format
            } else {
                fail(["log", "format"], "\"text\" or \"json\"", .string(v))
            }
        }
        if let value = table["max_size_mb"] {
            let expected = "a size in MB above 0 and at most 10240, such as 10 or 0.5"
            let size: Double? = switch value {
            case .int(let number): Double(number)
            case .double(let number): number
            default: nil
            }
            if let size, size > 0, size <= 10240 {
                log.maxSizeMB = size
            } else {
                fail(["log", "max_size_mb"], expected, value)
            }
        }
        if let v = integer(table, "log", "max_files", 0...1000, "a number of rotated files to keep, from 0 to 1000") { log.maxFiles = v }
    }

    // MARK: Values

    mutating func relayList(_ value: TOMLNode, _ path: [String]) -> [String]? {
        let expected = "an array of relay URLs starting with wss:// or ws://"
        guard case .array(let elements) = value else {
            fail(path, expected, value)
            return nil
        }
        var relays: [String] = []
        for element in elements {
            guard case .string(let url) = element, Self.isURL(url, schemes: ["ws", "wss"]) else {
                fail(path, expected, element)
                return nil
            }
            if !relays.contains(url) { relays.append(url) }
        }
        return relays
    }

    mutating func integer(_ table: [String: TOMLNode], _ section: String, _ key: String, _ range: ClosedRange<Int>, _ expected: String)
        -> Int?
    {
        guard let value = table[key] else { return nil }
        guard case .int(let number) = value, range.contains(number) else {
            fail([section, key], expected, value)
            return nil
        }
        return number
    }

    mutating func string(_ table: [String: TOMLNode], _ section: String, _ key: String) -> String? {
        guard let value = table[key] else { return nil }
        guard case .string(let text) = value else {
            fail([section, key], "a string", value)
            return nil
        }
        return text
    }

    mutating func bool(_ table: [String: TOMLNode], _ section: String, _ key: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard case .bool(let flag) = value else {
            fail([section, key], "true or false", value)
            return nil
        }
        return flag
    }

    mutating func httpURL(_ table: [String: TOMLNode], _ section: String, _ key: String) -> String? {
        guard let text = string(table, section, key) else { return nil }
        guard text.isEmpty || Self.isURL(text, schemes: ["http", "https"]) else {
            fail([section, key], "an http:// or https:// URL, or \"\" to disable", .string(text))
            return nil
        }
        return text
    }

    static func isURL(_ text: String, schemes: Set<String>) -> Bool {
        guard !text.contains(where: \.isWhitespace), let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), schemes.contains(scheme), let host = components.encodedHost, !host.isEmpty
        else { return false }
        return true
    }

    // MARK: Reporting

    mutating func fail(_ path: [String], _ expected: String, _ value: TOMLNode) {
        let key = path.joined(separator: ".")
        // A secret's value is never shown, only its type.
        let got = Self.secretKeys.contains(key) ? value.typeDescription : value.shortDescription
        issues.append(.init(key: key, line: locator.line(of: path), message: "expected \(expected), got \(got)"))
    }

    mutating func warn(_ path: [String], _ message: String) {
        warnings.append(
            ConfigurationWarning(file: file, line: locator.line(of: path), key: path.joined(separator: "."), message: message))
    }

    /// ", did you mean max_queue?" when a known key is one or two edits away.
    func suggestion(_ key: String, _ known: [String]) -> String {
        let scored = known.map { ($0, Self.editDistance(key, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        return scored.map { "; did you mean \"\($0.0)\"?" } ?? ""
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
