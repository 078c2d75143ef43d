import ArgumentParser
import CLI

await PylonCommand.main()
