import CLI

// Before any other thread exists: clear a signal mask inherited from the parent, so SIGTERM,
// SIGINT and SIGHUP reach the daemon whoever started it.
PylonCommand.prepareProcess()
await PylonCommand.main(arguments: Array(CommandLine.arguments.dropFirst()))
