/// CLI: the `pylon` commands (swift-argument-parser) and their text and `--json` output.
/// May import Daemon and ControlProtocol (and what they import).
public import ArgumentParser
import Daemon

/// `pylon`: a node of the Nostr compute market.
public struct PylonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pylon",
        abstract: "A node of the Nostr compute market: sell local LLM inference (NIP-90), buy compute, host agents.",
        discussion: """
            New here? `pylon init` creates this node's identity and a commented config, `pylon doctor` \
            says what is still missing, and `pylon start` joins the market.

            Files live in ~/.config/pylon (config, identity) and ~/.pylon (runtime), or all in one \
            directory given by --home or PYLON_HOME.
            """,
        version: PylonVersion.current,
        subcommands: [
            InitCommand.self, IdentityCommand.self, StartCommand.self, StopCommand.self, StatusCommand.self, ReloadCommand.self,
            LogsCommand.self, ServiceCommand.self,
            JobsCommand.self, EarningsCommand.self, EventsCommand.self, DoctorCommand.self, InferCommand.self,
            JobCommand.self, WalletCommand.self, AgentCommand.self, DaemonEntryCommand.self, AgentEntryCommand.self,
        ]
    )

    public init() {}

    /// Process set-up that must happen before other threads start (they inherit the signal mask).
    public static func prepareProcess() {
        ProcessControl.unblockSignals()
    }

    /// Parses and runs, after moving a global `--home DIR` given before the subcommand to the end
    /// of the arguments, where the subcommand's own `--home` option reads it.
    public static func main(arguments: [String]) async {
        await main(GlobalOptions.reorder(arguments))
    }
}

/// `--json` for the commands whose JSON is one document of their data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document.")
    var json = false
}

/// Options every command accepts.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Keep every file in this directory (overrides PYLON_HOME).", valueName: "dir"))
    var home: String?

    var paths: PylonPaths { PylonPaths.resolve(home: home) }

    /// `pylon --home X init` → `pylon init --home X`: argument-parser reads options per command,
    /// so a global option written before the subcommand is moved after it (before any `--`).
    static func reorder(_ arguments: [String]) -> [String] {
        var args = arguments
        var moved: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg == "--" { break }
            if !arg.hasPrefix("-") { break }  // reached the subcommand
            if arg == "--home", i + 1 < args.count {
                moved += [arg, args[i + 1]]
                args.removeSubrange(i...(i + 1))
                continue
            }
            if arg.hasPrefix("--home=") {
                moved.append(arg)
                args.remove(at: i)
                continue
            }
            i += 1
        }
        guard !moved.isEmpty else { return arguments }
        if let separator = args.firstIndex(of: "--") {
            args.insert(contentsOf: moved, at: separator)
        } else {
            args += moved
        }
        return args
    }
}
