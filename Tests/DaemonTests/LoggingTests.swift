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
}
