import ArgumentParser
import Daemon
import Foundation
import PylonBasics

/// `pylon logs`: the daemon's log (`logs/pylon.log` and its rotated files), or follow it.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show the daemon's log (pylon.log and its rotated files); -f keeps following it.",
        discussion: """
            A daemon started in the background writes logs/pylon.log in the runtime directory and \
            rotates it by size ([log] max_size_mb, max_files). With --json each line is one JSON \
            object: a line of a format = "json" log as written, a text line as {"line": "…"}.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: [.customShort("n"), .customLong("lines")], help: ArgumentHelp("How many of the last lines to show (0: none).", valueName: "n"))
    var lines = 100

    @Flag(name: [.short, .long], help: "Keep printing new lines as they are written, across rotations.")
    var follow = false

    @Flag(name: .long, help: "One JSON array of objects (with --follow: one JSON object per line).")
    var json = false

    func validate() throws {
        guard lines >= 0 else { throw ValidationError("--lines must be 0 or more") }
    }

    func run() async throws {
        let file = global.paths.logFile
        let reader = LogReader(file)
        if !reader.exists && !follow {
            if json {
                print("[]")
            } else {
                Output.line("no log at \(file.path) yet: \(Self.whereLogsGo)")
            }
            return
        }
        let backlog = reader.backlog(lines)
        if !follow {
            if json {
                print(JSON.array(backlog.map(LogReader.jsonObject)).serialized)
            } else {
                for line in backlog { print(line) }
            }
            return
        }
        if !reader.exists {
            FileHandle.standardError.write(Data("waiting for \(file.path) to appear: \(Self.whereLogsGo)\n".utf8))
        }
        write(backlog)
        while !Task.isCancelled {
            let new = reader.poll()
            if new.isEmpty {
                try await Task.sleep(for: .milliseconds(200))
            } else {
                write(new)
            }
        }
    }

    static let whereLogsGo =
        "a daemon started in the background (`pylon start`) writes it; one started with --foreground logs to its standard error (as a systemd service: `journalctl --user -u pylon`)"

    /// Straight to the descriptor: stdio would hold lines back on a pipe.
    private func write(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        var text = ""
        for line in lines { text += (json ? LogReader.jsonObject(line).serialized : line) + "\n" }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
