public import Foundation

/// What a service manager needs to run pylon as a service (`pylon service install`): a systemd
/// user unit on Linux, a launchd agent on macOS. Both run `pylon start --foreground`, so the
/// manager owns the process: it sees it exit, restarts it after a failure and stops it with
/// SIGTERM (the daemon's graceful shutdown).
///
/// The texts are pure functions of the definition, so both are tested on any platform.
public struct ServiceDefinition: Sendable, Equatable {
    /// The absolute path of the pylon binary.
    public var executable: String
    /// The home given with `--home` or `PYLON_HOME`, passed on as `--home`; nil for the default
    /// directories of the user the service runs as.
    public var home: String?
    /// `--mode`, when not the default.
    public var mode: String?
    /// `--config`, when not the default file.
    public var configFile: String?

    public init(executable: String, home: String? = nil, mode: String? = nil, configFile: String? = nil) {
        self.executable = executable
        self.home = home
        self.mode = mode
        self.configFile = configFile
    }

    /// The command the manager runs, executable first.
    public var arguments: [String] {
        var arguments = [executable, "start", "--foreground"]
        if let home { arguments += ["--home", home] }
        if let mode { arguments += ["--mode", mode] }
        if let configFile { arguments += ["--config", configFile] }
        return arguments
    }

    /// The command as a person would type it (for messages).
    public var commandLine: String {
        arguments.map { argument in
            argument.isEmpty || argument.contains(where: { $0.isWhitespace || "\"'\\$`".contains($0) })
                ? "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'" : argument
        }.joined(separator: " ")
    }

    // MARK: systemd

    /// The unit's name: `systemctl --user … pylon`.
    public static let systemdUnitName = "pylon.service"

    /// `$XDG_CONFIG_HOME/systemd/user/pylon.service`, `~/.config/systemd/user/pylon.service` by default.
    public static func systemdUnitFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let configHome: URL
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            configHome = URL(fileURLWithPath: xdg, isDirectory: true)
        } else {
            configHome = userHome(environment).appending(path: ".config", directoryHint: .isDirectory)
        }
        return configHome.appending(path: "systemd/user/\(systemdUnitName)")
    }

    /// The systemd user unit (systemd.service(5)).
    public var systemdUnit: String {
        """
        # pylon as a systemd user service, written by `pylon service install`.
        # Start:  systemctl --user daemon-reload && systemctl --user enable --now pylon
        # Logs:   journalctl --user -u pylon -f
        # Remove: pylon service uninstall
        [Unit]
        Description=pylon, a node of the Nostr compute market

        [Service]
        Type=exec
        ExecStart=\(arguments.map(Self.systemdQuoted).joined(separator: " "))
        ExecReload=/bin/kill -HUP $MAINPID
        Restart=on-failure
        RestartSec=5
        # SIGTERM goes to pylon alone: it stops its own agents, then exits. Its graceful shutdown
        # takes at most 25 s; a second SIGTERM ends it at once.
        KillMode=mixed
        TimeoutStopSec=30

        [Install]
        WantedBy=default.target

        """
    }

    /// One word of a unit's command line: `%` and `$` doubled (specifiers and variables, which
    /// pylon's arguments never mean), quoted when it holds a space, a quote or a backslash.
    static func systemdQuoted(_ word: String) -> String {
        var escaped = word.replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "$", with: "$$")
        let plain = !escaped.isEmpty && !escaped.contains { $0.isWhitespace || $0.isNewline || "\"'\\;".contains($0) }
        if plain { return escaped }
        escaped = escaped.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
        return "\"\(escaped)\""
    }

    // MARK: launchd

    /// The agent's label: `launchctl print gui/UID/pylon`.
    public static let launchdLabel = "pylon"

    /// `~/Library/LaunchAgents/pylon.plist`.
    public static func launchdAgentFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        userHome(environment).appending(path: "Library/LaunchAgents/\(launchdLabel).plist")
    }

    /// The launchd agent (launchd.plist(5)): started at login, started again when it exits with
    /// a failure. In the foreground pylon logs to standard error, which goes to `logFile`.
    public func launchdPlist(logFile: String) -> String {
        let programArguments = arguments.map { "\t\t<string>\(Self.xmlEscaped($0))</string>" }.joined(separator: "\n")
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <!-- pylon as a launchd agent, written by `pylon service install`. -->
            <plist version="1.0">
            <dict>
            \t<key>Label</key>
            \t<string>\(Self.launchdLabel)</string>
            \t<key>ProgramArguments</key>
            \t<array>
            \(programArguments)
            \t</array>
            \t<key>RunAtLoad</key>
            \t<true/>
            \t<key>KeepAlive</key>
            \t<dict>
            \t\t<key>SuccessfulExit</key>
            \t\t<false/>
            \t</dict>
            \t<key>ThrottleInterval</key>
            \t<integer>5</integer>
            \t<key>ExitTimeOut</key>
            \t<integer>30</integer>
            \t<key>StandardOutPath</key>
            \t<string>\(Self.xmlEscaped(logFile))</string>
            \t<key>StandardErrorPath</key>
            \t<string>\(Self.xmlEscaped(logFile))</string>
            </dict>
            </plist>

            """
    }

    static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private static func userHome(_ environment: [String: String]) -> URL {
        URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory(), isDirectory: true)
    }
}
