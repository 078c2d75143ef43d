public import ArgumentParser

public struct PylonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "pylon")
    public init() {}
    public func run() async throws {}
}
