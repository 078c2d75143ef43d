public import Foundation
import Synchronization

/// The built `pylon` executable, next to the test binary in the build directory (or
/// `PYLON_BINARY`).
public enum PylonBinary {
    public static var url: URL {
        if let path = ProcessInfo.processInfo.environment["PYLON_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        }
        // macOS: …/debug/pylonPackageTests.xctest/Contents/MacOS/ → …/debug/
        while directory.path != "/" {
            let candidate = directory.appending(path: "pylon")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "pylon")
    }
}

extension TestHome {
    /// Runs `pylon` with this home and returns what it printed.
    @discardableResult
    public func pylon(_ arguments: String..., stdin: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        try run(arguments, stdin: stdin, environment: environment)
    }

    public func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        env["PYLON_HOME"] = path
        env["HOME"] = path  // nothing may reach the real home directory
        for (key, value) in environment { env[key] = value }
        return try CommandResult.run(PylonBinary.url, arguments, stdin: stdin, environment: env)
    }
}

/// What a finished command printed and how it exited.
public struct CommandResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

    /// stdout parsed as JSON.
    public func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
    }

    public static func run(_ executable: URL, _ arguments: [String], stdin: String? = nil, environment: [String: String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        // Read stderr on another thread so neither pipe can fill up and block the child.
        let errorData = LockedBox(Data())
        let group = DispatchGroup()
        let errorHandle = errors.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            let data = errorHandle.readDataToEndOfFile()
            errorData.set(data)
        }
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errorData.value, as: UTF8.self))
    }
}

/// A value shared between threads, guarded by a mutex.
public final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public var value: Value { mutex.withLock { $0 } }
    public func set(_ value: Value) { mutex.withLock { $0 = value } }
    @discardableResult
    public func withLock<R: Sendable>(_ body: (inout sending Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
