/// Daemon: composes the process. Owns paths, configuration, identity on disk, the PID lock, the
/// control server, HTTP observability, logging bootstrap and `buildDaemon()`. May import every
/// module below it.
public import Foundation

/// Where pylon keeps its files (SPEC §2).
///
/// With a home directory (`PYLON_HOME` or `--home`), everything lives directly in it. Without one,
/// configuration and identity live in `~/.config/pylon/` and runtime files in `~/.pylon/`.
public struct PylonPaths: Sendable, Equatable {
    /// Directory holding `config.toml` and `identity.mnemonic`.
    public let configDirectory: URL
    /// Directory holding the PID file, socket, database and logs (mode 0700).
    public let runtimeDirectory: URL

    public var configFile: URL { configDirectory.appending(path: "config.toml") }
    public var identityFile: URL { configDirectory.appending(path: "identity.mnemonic") }
    /// The wallet connection `pylon wallet connect` writes (mode 0600), next to the config.
    public var walletFile: URL { configDirectory.appending(path: Self.walletFileName) }
    public static let walletFileName = "wallet.nwc"
    public var pidFile: URL { runtimeDirectory.appending(path: "pylon.pid") }
    public var controlSocket: URL { runtimeDirectory.appending(path: "control.sock") }
    public var database: URL { runtimeDirectory.appending(path: "pylon.db") }
    public var logsDirectory: URL { runtimeDirectory.appending(path: "logs") }
    public var logFile: URL { logsDirectory.appending(path: "pylon.log") }
    public var agentLogsDirectory: URL { logsDirectory.appending(path: "agents") }

    public init(configDirectory: URL, runtimeDirectory: URL) {
        self.configDirectory = configDirectory
        self.runtimeDirectory = runtimeDirectory
    }

    /// All files directly in `home`.
    public init(home: URL) {
        self.init(configDirectory: home, runtimeDirectory: home)
    }

    /// Resolves the paths: an explicit `--home` wins, then `PYLON_HOME`, then the defaults under the
    /// user's home directory.
    public static func resolve(home: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> PylonPaths {
        if let home, !home.isEmpty {
            return PylonPaths(home: URL(fileURLWithPath: expandTilde(home), isDirectory: true).standardizedFileURL)
        }
        if let home = environment["PYLON_HOME"], !home.isEmpty {
            return PylonPaths(home: URL(fileURLWithPath: expandTilde(home), isDirectory: true).standardizedFileURL)
        }
        let user = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory(), isDirectory: true)
        return PylonPaths(
            configDirectory: user.appending(path: ".config/pylon", directoryHint: .isDirectory),
            runtimeDirectory: user.appending(path: ".pylon", directoryHint: .isDirectory))
    }

    private static func expandTilde(_ path: String) -> String {
        (path as NSString).expandingTildeInPath
    }
}
