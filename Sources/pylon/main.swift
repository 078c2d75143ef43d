import CLI

await PylonCommand.main(arguments: Array(CommandLine.arguments.dropFirst()))
