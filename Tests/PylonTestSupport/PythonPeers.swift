public import Foundation

/// The Python environment that holds the real peers (`nostr-sdk`, `nostr-relay`).
///
/// `PYLON_TEST_PYTHON` names the interpreter; otherwise `<package root>/.venv/bin/python`, which
/// `scripts/setup-test-peers.sh` (and `.ci/run`) creates. A missing interpreter fails the test
/// with instructions rather than skipping it: the interop checks are part of the contract.
public enum PythonPeers {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    public static var python: URL {
        get throws {
            if let path = ProcessInfo.processInfo.environment["PYLON_TEST_PYTHON"], !path.isEmpty {
                return URL(fileURLWithPath: path)
            }
            let venv = TestPaths.packageRoot.appending(path: ".venv/bin/python")
            guard FileManager.default.isExecutableFile(atPath: venv.path) else {
                throw Missing(description: "no Python peers: run scripts/setup-test-peers.sh (creates .venv with nostr-sdk and nostr-relay) or set PYLON_TEST_PYTHON")
            }
            return venv
        }
    }

    /// A script under `Tests/Peers/`.
    public static func script(_ name: String) -> URL {
        TestPaths.packageRoot.appending(path: "Tests/Peers/\(name)")
    }

    /// Sends a batch of requests to the rust-nostr oracle and returns its answers in order.
    /// Each answer is `.success(value)` or `.failure(message)`.
    public static func oracle(_ requests: [[String: any Sendable]]) throws -> [Result<Any, OracleError>] {
        let input = try JSONSerialization.data(withJSONObject: requests)
        let output = try run(script: "nostr_oracle.py", input: input)
        guard let answers = try JSONSerialization.jsonObject(with: output) as? [[String: Any]] else {
            throw OracleError(message: "oracle printed something other than a JSON array")
        }
        return answers.map { answer in
            if let value = answer["ok"] { return .success(value) }
            return .failure(OracleError(message: answer["error"] as? String ?? "unknown"))
        }
    }

    public struct OracleError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Runs a peer script to completion with `input` on stdin; returns stdout, throws on a non-zero exit.
    public static func run(script name: String, arguments: [String] = [], input: Data) throws -> Data {
        let process = Process()
        process.executableURL = try python
        process.arguments = [script(name).path] + arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Write and read concurrently so a large answer cannot deadlock on a full pipe.
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OracleError(message: "\(name) exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return output
    }
}
