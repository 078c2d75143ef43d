import Foundation
import PylonTestSupport
import Testing

/// A directory of fake tools put first on PATH, so that `pylon service` never reaches the real
/// service manager of the machine running the tests.
final class FakeTools: Sendable {
    let directory: TestHome
    var path: String { directory.path }
    var callLog: URL { directory.file("calls.log") }

    init() throws {
        directory = try TestHome()
    }

    /// A `systemctl` that records its arguments and answers `is-active` and `is-enabled` from
    /// FAKE_ACTIVE and FAKE_ENABLED; with FAKE_NO_BUS it fails as systemctl does without a user
    /// manager.
    func installSystemctl() throws {
        let script = """
            #!/bin/sh
            echo "$*" >> "\(callLog.path)"
            if [ -n "$FAKE_NO_BUS" ]; then echo "Failed to connect to bus: No medium found" >&2; exit 1; fi
            case "$*" in
              "--user is-active pylon") echo "${FAKE_ACTIVE:-inactive}"; [ "${FAKE_ACTIVE:-inactive}" = active ] ;;
              "--user is-enabled pylon") echo "${FAKE_ENABLED:-disabled}"; [ "${FAKE_ENABLED:-disabled}" = enabled ] ;;
              *) exit 0 ;;
            esac

            """
        let file = directory.file("systemctl")
        try Data(script.utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
    }

    /// The calls made so far, one per line.
    var calls: [String] {
        ((try? String(contentsOf: callLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

@Suite("pylon service (process level)", .serialized)
struct ServiceCommandTests {
    /// `pylon …` with this home, its own XDG_CONFIG_HOME, and PATH holding only `tools`.
    func service(_ node: PylonNode, _ tools: FakeTools, _ arguments: String..., environment: [String: String] = [:]) throws -> CommandResult {
        var env = ["XDG_CONFIG_HOME": node.home.file("xdg").path, "PATH": tools.path]
        for (key, value) in environment { env[key] = value }
        return try node.home.run(["service"] + arguments, environment: env)
    }

    func unitFile(_ node: PylonNode) -> URL { node.home.file("xdg/systemd/user/pylon.service") }

    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("install writes a user unit running this binary with --home; status says it is installed; a second install changes nothing")
    func installAndStatus() throws {
        let node = try PylonNode()
        let tools = try FakeTools()  // no systemctl on PATH
        let before = try service(node, tools, "status")
        #expect(before.status == 3, "\(before)")
        #expect(before.stdout.contains("not installed"))

        let install = try service(node, tools, "install", "--json")
        #expect(install.status == 0, "\(install)")
        let report = try #require(try install.json() as? [String: Any])
        #expect(report["action"] as? String == "created")
        #expect(report["started"] as? Bool == false)
        #expect(report["file"] as? String == unitFile(node).path)
        #expect(report["command"] as? [String] == [PylonBinary.url.resolvingSymlinksInPath().path, "start", "--foreground", "--home", node.home.path])
        #expect((report["next_steps"] as? [String])?.first == "systemctl --user daemon-reload && systemctl --user enable --now pylon")

        let unit = try String(contentsOf: unitFile(node), encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(PylonBinary.url.resolvingSymlinksInPath().path) start --foreground --home \(node.home.path)\n"))
        #expect(unit.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"))
        #expect(unit.contains("\nRestart=on-failure\n"))

        let text = try service(node, tools, "install")
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("unchanged \(unitFile(node).path)"), "\(text)")
        #expect(text.stdout.contains("systemctl --user daemon-reload && systemctl --user enable --now pylon"))

        let status = try service(node, tools, "status", "--json")
        #expect(status.status == 0, "\(status)")
        let state = try #require(try status.json() as? [String: Any])
        #expect(state["installed"] as? Bool == true)
        #expect(state["up_to_date"] as? Bool == true)
        #expect(state["manager"] as? String == "systemd")
        #expect(state["manager_error"] as? String == "systemctl is not on PATH")
        // --now needs systemctl, and says so before writing anything.
        let now = try service(node, tools, "install", "--now")
        #expect(now.status == 1)
        #expect(now.stderr.contains("systemctl is not on PATH"), "\(now)")
    }

    @Test(
        "systemd-analyze verify accepts the unit",
        .enabled(
            if: Self.systemdAnalyze != nil,
            "systemd-analyze is not installed; on Debian `apt-get install systemd` provides it (this container's image has it)"))
    func systemdVerify() throws {
        let node = try PylonNode()
        let tools = try FakeTools()
        #expect(try service(node, tools, "install").status == 0)
        let analyze = try #require(Self.systemdAnalyze)
        // A user manager's view without a running one: a private runtime directory is enough.
        let runtime = try TestHome()
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_RUNTIME_DIR"] = runtime.path
        environment["SYSTEMD_LOG_COLOR"] = "0"
        let verify = try CommandResult.run(URL(fileURLWithPath: analyze), ["--user", "verify", unitFile(node).path], environment: environment)
        #expect(verify.status == 0, "\(verify)")
        // A bad setting is only a warning to verify: none may be printed.
        #expect(verify.stderr.isEmpty && verify.stdout.isEmpty, "\(verify)")

        // The check itself can fail: a unit with a bad setting and a missing binary does.
        let broken = try String(contentsOf: unitFile(node), encoding: .utf8)
            .replacingOccurrences(of: "Restart=on-failure", with: "Restart=sometimes")
            .replacingOccurrences(of: "ExecStart=/", with: "ExecStart=/no/such/")
        let brokenFile = runtime.file("broken.service")
        try Data(broken.utf8).write(to: brokenFile)
        let refused = try CommandResult.run(URL(fileURLWithPath: analyze), ["--user", "verify", brokenFile.path], environment: environment)
        #expect(refused.status != 0 || !refused.stderr.isEmpty)
        #expect(refused.stderr.contains("sometimes") || refused.stderr.contains("not executable"), "\(refused)")
    }

    @Test("without --home or PYLON_HOME the unit uses the user's default directories; --mode and --config pass through")
    func defaultHome() throws {
        let node = try PylonNode()
        let tools = try FakeTools()
        let install = try service(node, tools, "install", "--json", "--mode", "provider", "--config", "/etc/pylon.toml", environment: ["PYLON_HOME": ""])
        #expect(install.status == 0, "\(install)")
        let command = try #require((try install.json() as? [String: Any])?["command"] as? [String])
        #expect(command.dropFirst() == ["start", "--foreground", "--mode", "provider", "--config", "/etc/pylon.toml"])
        // The default home has no identity: install says what to do first.
        #expect(install.stderr.contains("pylon init"), "\(install)")
        // Run with a home again: the installed unit differs from what this install would write.
        let status = try service(node, tools, "status", "--json")
        #expect((try status.json() as? [String: Any])?["up_to_date"] as? Bool == false)
        #expect(try service(node, tools, "install").stdout.hasPrefix("updated "))
    }

    @Test("install --now, status and uninstall drive `systemctl --user`; uninstall stops and disables first")
    func systemctl() throws {
        let node = try PylonNode()
        let tools = try FakeTools()
        try tools.installSystemctl()
        let install = try service(node, tools, "install", "--now")
        #expect(install.status == 0, "\(install)")
        #expect(install.stdout.contains("started: systemctl --user daemon-reload && systemctl --user enable --now pylon"), "\(install)")
        #expect(tools.calls == ["--user daemon-reload", "--user enable --now pylon"])
        // A changed unit (another mode) replaces the running one: it is restarted.
        let replaced = try service(node, tools, "install", "--now", "--mode", "provider")
        #expect(replaced.status == 0, "\(replaced)")
        #expect(replaced.stdout.hasPrefix("updated "), "\(replaced)")
        #expect(Array(tools.calls.suffix(3)) == ["--user daemon-reload", "--user enable --now pylon", "--user try-restart pylon"])

        let running = ["FAKE_ACTIVE": "active", "FAKE_ENABLED": "enabled"]
        let status = try service(node, tools, "status", "--json", environment: running)
        let state = try #require(try status.json() as? [String: Any])
        #expect(state["active"] as? String == "active")
        #expect(state["enabled"] as? String == "enabled")
        #expect(state["manager_error"] == nil)
        let text = try service(node, tools, "status", environment: running)
        #expect(text.stdout.contains("systemd: active, enabled"), "\(text)")

        let noBus = try service(node, tools, "status", "--json", environment: ["FAKE_NO_BUS": "1"])
        #expect((try noBus.json() as? [String: Any])?["manager_error"] as? String == "Failed to connect to bus: No medium found")

        let before = tools.calls.count
        let uninstall = try service(node, tools, "uninstall", environment: running)
        #expect(uninstall.status == 0, "\(uninstall)")
        #expect(Array(tools.calls.dropFirst(before)) == [
            "--user is-active pylon", "--user is-enabled pylon", "--user stop pylon", "--user disable pylon", "--user daemon-reload",
        ])
        #expect(uninstall.stdout.contains("stopped the pylon service") && uninstall.stdout.contains("removed \(unitFile(node).path)"))
        #expect(!FileManager.default.fileExists(atPath: unitFile(node).path))
        #expect(try service(node, tools, "status").status == 3)
        let again = try service(node, tools, "uninstall")
        #expect(again.status == 0)
        #expect(again.stdout.contains("not installed"), "\(again)")
    }
}

@Suite("shell completions")
struct CompletionTests {
    @Test("bash, zsh and fish scripts come from the commands; bash completes subcommands with them")
    func scripts() throws {
        let home = try TestHome()
        let expectedStart = ["bash": "#!/bin/bash", "zsh": "#compdef pylon", "fish": "function __pylon"]
        for shell in ["bash", "zsh", "fish"] {
            let result = try home.pylon("--generate-completion-script", shell)
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.hasPrefix(try #require(expectedStart[shell])), "\(shell): \(result.stdout.prefix(80))")
            for command in ["start", "stop", "logs", "service", "doctor", "wallet", "uninstall"] {
                #expect(result.stdout.contains(command), "\(shell) completes \(command)")
            }
            #expect(!result.stdout.contains("__daemon"), "the hidden entry point stays hidden")
        }
        // Run the bash completion: "pylon se<TAB>" and "pylon service <TAB>".
        let script = try home.write(try home.pylon("--generate-completion-script", "bash").stdout, to: "pylon.bash")
        func complete(_ words: [String]) throws -> [String] {
            let line = words.joined(separator: " ")
            let program = """
                source '\(script.path)'
                COMP_WORDS=(\(words.map { "'\($0)'" }.joined(separator: " "))); COMP_CWORD=\(words.count - 1)
                COMP_LINE='\(line)'; COMP_POINT=\(line.count)
                _pylon pylon '\(words.last ?? "")' '\(words.dropLast().last ?? "")'
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let result = try CommandResult.run(URL(fileURLWithPath: "/bin/bash"), ["-c", program], environment: ProcessInfo.processInfo.environment)
            return result.stdout.split(separator: "\n").map(String.init)
        }
        #expect(try complete(["pylon", "se"]) == ["service"])
        #expect(Set(try complete(["pylon", "service", ""])).isSuperset(of: ["install", "uninstall", "status"]))
    }
}
