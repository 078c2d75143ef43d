import ControlProtocol
import Daemon
import Foundation
import Logging
import PylonBasics
import PylonTestSupport
import Testing

@Suite("Logging")
struct LoggingTests {
    static let nwc = ConfigurationTests.nwc

    func lines(_ file: URL) throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    func logger(_ settings: LogSettings, _ sink: LogSink, label: String = "pylon.test") -> Logger {
        Logger(label: label) { label in PylonLogHandler(label: label, settings: settings, sink: sink) }
    }

    @Test("text lines: time, level, label, message, sorted metadata")
    func text() throws {
        let home = try TestHome()
        let file = home.file("logs/pylon.log")
        let log = logger(LogSettings(level: .info, format: .text, environment: [:]), try .file(file))
        log.info("relay connected", metadata: ["relay.url": "wss://nos.lol", "attempt": "2"])
        log.warning("two\nlines", metadata: ["note": "with space"])
        let written = try lines(file)
        #expect(written.count == 2)
        let parts = written[0].split(separator: " ", maxSplits: 1)
        #expect(RFC3339.date(from: String(parts[0])) != nil)
        #expect(parts[1] == "info pylon.test: relay connected attempt=2 relay.url=wss://nos.lol")
        #expect(written[1].hasSuffix("warning pylon.test: two\\nlines note=\"with space\""))
    }

    @Test("JSON lines: every line is one object with time, level, label, message and metadata")
    func json() throws {
        let home = try TestHome()
        let file = home.file("logs/pylon.log")
        var log = logger(LogSettings(level: .trace, format: .json, environment: [:]), try .file(file))
        log[metadataKey: "job.id"] = "j1"
        log.trace("tick")
        log.info("job done", metadata: ["job.tokens": "12", "nested": ["a": "1", "list": ["x", "y"]]])
        log.error("failed \"badly\"\n", metadata: ["path": "/tmp/x"])
        let written = try lines(file)
        #expect(written.count == 3)
        for line in written {
            let object = try JSON.parse(line)
            #expect(object.keys.starts(with: ["time", "level", "label", "message"]))
            #expect(object["time"]?.stringValue.flatMap(RFC3339.date(from:)) != nil)
            #expect(object["label"] == "pylon.test")
            #expect(object["metadata"]?["job.id"] == "j1")
        }
        let second = try JSON.parse(written[1])
        #expect(second["level"] == "info")
        #expect(second["message"] == "job done")
        #expect(second["metadata"]?["nested"] == ["a": "1", "list": ["x", "y"]])
        #expect(try JSON.parse(written[2])["message"] == "failed \"badly\"\n")
        #expect(written[2].contains("/tmp/x"))  // slashes are not escaped
    }

    @Test("a Secret never reaches the log, in either format")
    func secrets() throws {
        let home = try TestHome()
        let secretPart = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
        for format in PylonConfiguration.LogFormat.allCases {
            let file = home.file("logs/\(format).log")
            let log = logger(LogSettings(level: .debug, format: format, environment: [:]), try .file(file))
            let secret = Secret(Self.nwc)
            log.info("wallet connected \(secret)", metadata: ["wallet.nwc": .stringConvertible(secret), "wallet": ["uri": "\(secret)"]])
            let config = try PylonConfiguration.parse("[wallet]\nnwc = \"\(Self.nwc)\"", file: "c.toml").configuration
            log.debug("config loaded", metadata: ["config": "\(config)", "wallet": .stringConvertible(String(describing: config.wallet))])
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains(secretPart))
            #expect(!text.contains("walletconnect"))
            #expect(text.contains("<redacted>"))
        }
    }

    @Test("PYLON_LOG overrides the configured level, also across reloads")
    func environmentOverride() {
        let settings = LogSettings(level: .info, format: .text, environment: ["PYLON_LOG": "debug"])
        #expect(settings.environmentLevel == .debug)
        #expect(settings.level == .debug)
        settings.apply(.init(level: .error, format: .json))
        #expect(settings.level == .debug)
        #expect(settings.format == .json)

        let plain = LogSettings(level: .info, format: .text, environment: ["PYLON_LOG": "nonsense"])
        #expect(plain.environmentLevel == nil)
        #expect(plain.level == .info)
        plain.apply(.init(level: .warning, format: .text))
        #expect(plain.level == .warning)
    }

    @Test("the level changes live for loggers already made")
    func liveLevel() throws {
        let home = try TestHome()
        let file = home.file("pylon.log")
        let settings = LogSettings(level: .info, format: .text, environment: [:])
        let log = logger(settings, try .file(file))
        log.debug("hidden")
        settings.apply(.init(level: .debug, format: .text))
        log.debug("shown")
        settings.level = .error
        log.warning("hidden too")
        let written = try lines(file)
        #expect(written.count == 1)
        #expect(written.first?.hasSuffix("shown") == true)
    }

    @Test("the file rotates by size and keeps the given number of old files")
    func rotation() throws {
        let home = try TestHome()
        let file = home.file("logs/pylon.log")
        let sink = try LogSink.file(file, maximumBytes: 2000, keep: 2)
        let log = logger(LogSettings(level: .info, format: .json, environment: [:]), sink)
        for index in 0..<100 { log.info("line \(index)", metadata: ["padding": "\(String(repeating: "x", count: 40))"]) }
        let manager = FileManager.default
        let base = file.path(percentEncoded: false)
        #expect(manager.fileExists(atPath: base))
        #expect(manager.fileExists(atPath: base + ".1"))
        #expect(manager.fileExists(atPath: base + ".2"))
        #expect(!manager.fileExists(atPath: base + ".3"))
        for path in [base, base + ".1", base + ".2"] {
            let size = try #require(try manager.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(size <= 2000)
            for line in try lines(URL(fileURLWithPath: path)) { #expect(throws: Never.self) { try JSON.parse(line) } }
        }
        let newest = try lines(file)
        #expect(newest.last?.contains("line 99") == true)
        let permissions = try #require(try manager.attributesOfItem(atPath: base)[.posixPermissions] as? Int)
        #expect(permissions == 0o600)
    }

    @Test("lines from many threads stay whole")
    func concurrentWrites() async throws {
        let home = try TestHome()
        let file = home.file("pylon.log")
        let sink = try LogSink.file(file)
        let settings = LogSettings(level: .info, format: .json, environment: [:])
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    let log = Logger(label: "w\(worker)") { PylonLogHandler(label: $0, settings: settings, sink: sink) }
                    for index in 0..<200 { log.info("message \(index)", metadata: ["worker": "\(worker)"]) }
                }
            }
        }
        let written = try lines(file)
        #expect(written.count == 1600)
        for line in written { #expect(throws: Never.self) { try JSON.parse(line) } }
    }

    @Test("the daemon logs to pylon.log with [log].max_size_mb and max_files, or to stderr in the foreground")
    func daemonDestination() throws {
        let paths = PylonPaths(home: URL(fileURLWithPath: "/tmp/pylon-home"))
        let log = try PylonConfiguration.parse("[log]\nmax_size_mb = 0.5\nmax_files = 2", file: "c.toml").configuration.log
        guard case .file(let url, let maximumBytes, let keep) = PylonLogging.destination(log, paths: paths, foreground: false) else {
            Issue.record("a background daemon logs to a file")
            return
        }
        #expect(url == paths.logFile)
        #expect(maximumBytes == 524_288)
        #expect(keep == 2)
        guard case .standardError = PylonLogging.destination(log, paths: paths, foreground: true) else {
            Issue.record("a foreground daemon logs to stderr")
            return
        }
    }
}

@Suite("Reading the log (pylon logs)")
struct LogReaderTests {
    /// Writes numbered lines of about 28 bytes.
    func write(_ range: Range<Int>, to sink: LogSink) {
        for index in range { sink.write("line \(index) " + String(repeating: "x", count: 20)) }
    }

    func numbers(_ lines: [String]) -> [Int] {
        lines.compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
    }

    @Test("the last lines come from pylon.log and, further back, its rotated files, oldest first")
    func backlog() throws {
        let home = try TestHome()
        let file = home.file("logs/pylon.log")
        let sink = try LogSink.file(file, maximumBytes: 300, keep: 3)
        write(0..<100, to: sink)
        #expect(FileManager.default.fileExists(atPath: file.path + ".3"))
        let reader = LogReader(file)
        #expect(reader.exists)
        #expect(numbers(reader.backlog(5)) == Array(95..<100))
        // Ten 29-byte lines fit in 300 bytes: the 4 files hold the last 40 lines, in order, none twice.
        #expect(numbers(reader.backlog(1000)) == Array(60..<100))
        #expect(numbers(reader.backlog(15)) == Array(85..<100))
        #expect(reader.backlog(0).isEmpty)
        // Nothing new since the reader was made.
        #expect(reader.poll().isEmpty)
    }

    @Test("following: every line once, in order, across rotations, whether polled often or after several rotations")
    func followAcrossRotation() throws {
        for pollEvery in [3, 1000] {
            let home = try TestHome()
            let file = home.file("logs/pylon.log")
            let sink = try LogSink.file(file, maximumBytes: 300, keep: 40)
            write(0..<10, to: sink)
            let reader = LogReader(file)
            #expect(numbers(reader.backlog(3)) == [7, 8, 9])
            var seen: [String] = []
            for start in stride(from: 10, to: 200, by: pollEvery) {
                write(start..<min(start + pollEvery, 200), to: sink)
                seen += reader.poll()
            }
            seen += reader.poll()
            #expect(FileManager.default.fileExists(atPath: file.path + ".10"), "it rotated many times")
            #expect(numbers(seen) == Array(10..<200), "polled every \(pollEvery) lines")
        }
    }

    @Test("following a log that does not exist yet, and one truncated in place")
    func missingThenTruncated() throws {
        let home = try TestHome()
        let file = home.file("logs/pylon.log")
        let reader = LogReader(file)
        #expect(!reader.exists)
        #expect(reader.backlog(10).isEmpty)
        #expect(reader.poll().isEmpty)
        let sink = try LogSink.file(file, maximumBytes: 1 << 20, keep: 1)
        write(0..<3, to: sink)
        #expect(numbers(reader.poll()) == [0, 1, 2])
        #expect(reader.exists)
        // A line being written is not given until it ends.
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("half a li".utf8))
        #expect(reader.poll().isEmpty)
        try handle.write(contentsOf: Data("ne\n".utf8))
        #expect(reader.poll() == ["half a line"])
        // Truncated (`: > pylon.log`), then written again: read from the start.
        try handle.truncate(atOffset: 0)
        try handle.close()
        write(3..<5, to: try LogSink.file(file, maximumBytes: 1 << 20, keep: 1))
        #expect(numbers(reader.poll()) == [3, 4])
    }

    @Test("--json: a JSON log line is given as written; a text line as {\"line\": …}")
    func jsonLines() throws {
        let object = LogReader.jsonObject(#"{"time":"2026-01-01T00:00:00Z","level":"info","label":"pylon.daemon","message":"pylon started"}"#)
        #expect(object["message"] == "pylon started")
        #expect(object["level"] == "info")
        let text = "2026-01-01T00:00:00.000Z info pylon.daemon: pylon started pylon.pid=7"
        #expect(LogReader.jsonObject(text) == .object([.init("line", .string(text))]))
        #expect(LogReader.jsonObject("{not json") == .object([.init("line", .string("{not json"))]))
        #expect(LogReader.jsonObject("[1]") == .object([.init("line", .string("[1]"))]))
    }
}
