import Daemon
import Foundation
import Testing

@Suite("Service definitions (pylon service)")
struct ServiceDefinitionTests {
    let plain = ServiceDefinition(executable: "/usr/local/bin/pylon")
    let odd = ServiceDefinition(executable: "/opt/my pylon/pylon", home: "/srv/50%$node \"a\"", mode: "provider", configFile: "/etc/pylon/c&<d>.toml")

    func lines(_ text: String, _ prefix: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    @Test("the command: this binary, start --foreground, then --home, --mode and --config when given")
    func arguments() {
        #expect(plain.arguments == ["/usr/local/bin/pylon", "start", "--foreground"])
        #expect(odd.arguments == ["/opt/my pylon/pylon", "start", "--foreground", "--home", "/srv/50%$node \"a\"", "--mode", "provider", "--config", "/etc/pylon/c&<d>.toml"])
        #expect(plain.commandLine == "/usr/local/bin/pylon start --foreground")
        #expect(ServiceDefinition(executable: "/a b/pylon", home: "/it's").commandLine == "'/a b/pylon' start --foreground --home '/it'\\''s'")
    }

    @Test("the systemd unit runs start --foreground, reloads with SIGHUP, restarts on failure, starts with the user's session")
    func systemdUnit() {
        let unit = plain.systemdUnit
        #expect(lines(unit, "ExecStart=") == ["/usr/local/bin/pylon start --foreground"])
        #expect(lines(unit, "ExecReload=") == ["/bin/kill -HUP $MAINPID"])
        #expect(lines(unit, "Restart=") == ["on-failure"])
        #expect(lines(unit, "KillMode=") == ["mixed"])
        #expect(lines(unit, "WantedBy=") == ["default.target"])
        for section in ["[Unit]", "[Service]", "[Install]"] { #expect(unit.contains("\n\(section)\n")) }
        #expect(unit.contains("systemctl --user daemon-reload && systemctl --user enable --now pylon"))
    }

    @Test("systemd: a word with spaces or quotes is quoted; % and $ are doubled so systemd takes them literally")
    func systemdQuoting() throws {
        let execStart = try #require(lines(odd.systemdUnit, "ExecStart=").first)
        #expect(execStart == #""/opt/my pylon/pylon" start --foreground --home "/srv/50%%$$node \"a\"" --mode provider --config /etc/pylon/c&<d>.toml"#)
        #expect(SystemdWords.split(execStart) == odd.arguments)
    }

    @Test("the launchd agent is a property list with the command, RunAtLoad, KeepAlive on failure and the log file")
    func launchdPlist() throws {
        let text = odd.launchdPlist(logFile: "/Users/u/.pylon/logs/launchd.log")
        let plist = try #require(try PropertyListSerialization.propertyList(from: Data(text.utf8), format: nil) as? [String: Any])
        #expect(plist["Label"] as? String == "pylon")
        #expect(plist["ProgramArguments"] as? [String] == odd.arguments)
        #expect(plist["RunAtLoad"] as? Bool == true)
        #expect((plist["KeepAlive"] as? [String: Any])?["SuccessfulExit"] as? Bool == false)
        #expect(plist["StandardErrorPath"] as? String == "/Users/u/.pylon/logs/launchd.log")
        #expect(plist["StandardOutPath"] as? String == "/Users/u/.pylon/logs/launchd.log")
        #expect(plist["ExitTimeOut"] as? Int == 30)
    }

    @Test("where the files go: $XDG_CONFIG_HOME/systemd/user (default ~/.config), ~/Library/LaunchAgents")
    func locations() {
        #expect(ServiceDefinition.systemdUnitFile(environment: ["HOME": "/home/u"]).path == "/home/u/.config/systemd/user/pylon.service")
        #expect(
            ServiceDefinition.systemdUnitFile(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg"]).path == "/cfg/systemd/user/pylon.service")
        // A relative XDG_CONFIG_HOME is invalid by the XDG spec and ignored.
        #expect(
            ServiceDefinition.systemdUnitFile(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "cfg"]).path
                == "/home/u/.config/systemd/user/pylon.service")
        #expect(ServiceDefinition.launchdAgentFile(environment: ["HOME": "/Users/u"]).path == "/Users/u/Library/LaunchAgents/pylon.plist")
    }
}

/// systemd's splitting of a command line (systemd.service(5), "Command lines"), enough to read
/// back what the unit says: words split at spaces, double quotes with C escapes, `%%` and `$$`.
enum SystemdWords {
    static func split(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quoted = false
        var characters = Array(line)[...]
        while let character = characters.popFirst() {
            switch character {
            case "\"" where quoted:
                quoted = false
            case "\"" where !inWord:
                quoted = true
                inWord = true
            case "\\" where quoted:
                let next = characters.popFirst() ?? "\\"
                current.append(next == "n" ? "\n" : next == "t" ? "\t" : next)
            case " " where !quoted:
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "%", "$":
                // Doubled: one literal character.
                if characters.first == character { characters.removeFirst() }
                current.append(character)
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
