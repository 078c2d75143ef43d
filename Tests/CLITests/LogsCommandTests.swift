import Foundation
import PylonTestSupport
import Testing

@Suite("pylon logs (process level)", .serialized)
struct LogsCommandTests {
    @Test("the daemon rotates pylon.log at [log].max_size_mb keeping max_files; logs reads across them and -f follows a rotation")
    func rotationAndFollow() async throws {
        let node = try PylonNode(extraConfig: "[log]\nmax_size_mb = 0.002\nmax_files = 2\n")
        try node.mustStart()
        // Each reload writes one line of about 120 bytes; the limit is 2097 bytes.
        for _ in 0..<40 { #expect(try node.pylon("reload").status == 0) }
        let base = node.logFile.path
        let manager = FileManager.default
        for path in [base, base + ".1", base + ".2"] {
            #expect(manager.fileExists(atPath: path), "\(path)")
            let size = try #require(try manager.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(size <= 2097, "\(path) is \(size) bytes")
        }
        #expect(!manager.fileExists(atPath: base + ".3"), "max_files = 2 keeps two old files")

        // `pylon logs` gives the three files' lines in order: oldest file first.
        let onDisk = try [base + ".2", base + ".1", base].flatMap { path in
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let all = try node.pylon("logs", "-n", "1000")
        #expect(all.status == 0, "\(all)")
        #expect(all.stdout.split(separator: "\n").map(String.init) == onDisk)
        let last3 = try node.pylon("logs", "--lines", "3", "--json")
        let objects = try #require(try last3.json() as? [[String: Any]])
        #expect(objects.compactMap { $0["line"] as? String } == Array(onDisk.suffix(3)))

        // Follow: the first line printed says the follower is reading; 40 more reloads rotate the
        // file at least twice, and every one of their lines arrives once.
        let process = Process()
        process.executableURL = PylonBinary.url
        process.arguments = ["logs", "-f", "-n", "1", "--json"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYLON_HOME"] = node.home.path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let lines = OutputLines(reading: output.fileHandleForReading)
        #expect(await awaitCondition(timeout: .seconds(10)) { lines.value.count >= 1 })
        let rotatedBefore = try String(contentsOfFile: base + ".1", encoding: .utf8)
        for _ in 0..<40 { #expect(try node.pylon("reload").status == 0) }
        #expect(try String(contentsOfFile: base + ".1", encoding: .utf8) != rotatedBefore, "the log rotated while followed")
        @Sendable func reloads() -> Int { lines.value.filter { $0.contains("config reloaded") }.count }
        #expect(await awaitCondition(timeout: .seconds(10)) { reloads() >= 41 })
        #expect(reloads() == 41, "the first line and the 40 new ones, none twice")
        for line in lines.value {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["line"] is String, "\(line)")
        }
        output.fileHandleForReading.readabilityHandler = nil
        try await node.mustCleanShutdown()
    }

    @Test("with no log yet, logs says where logs go; --json prints an empty array")
    func noLogYet() throws {
        let node = try PylonNode()
        let text = try node.pylon("logs")
        #expect(text.status == 0)
        #expect(text.stdout.contains("no log at \(node.logFile.path) yet") && text.stdout.contains("--foreground"), "\(text)")
        let json = try node.pylon("logs", "--json")
        #expect(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(try node.pylon("logs", "--lines", "-1").status != 0)
    }
}
