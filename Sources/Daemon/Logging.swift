import ControlProtocol
public import Foundation
public import Logging
import PylonBasics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if os(Linux)
    // Glibc's `struct stat` is owned by CDispatch here; see ControlSocketFile.swift.
    import CDispatch
#endif

/// The level and format every pylon log handler reads, shared so that a reload changes them live.
///
/// `PYLON_LOG` (trace|debug|info|notice|warning|error|critical) overrides the configured level for
/// the life of the process, reloads included.
public final class LogSettings: Sendable {
    private struct State {
        var level: Logger.Level
        var format: PylonConfiguration.LogFormat
    }

    // Guards the level and format, read on every log call.
    private let state: Mutex<State>
    /// The level from `PYLON_LOG`, when set to a valid level.
    public let environmentLevel: Logger.Level?

    public init(
        level: Logger.Level = .info, format: PylonConfiguration.LogFormat = .text,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        let override = environment["PYLON_LOG"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
        self.environmentLevel = override
        self.state = Mutex(State(level: override ?? level, format: format))
    }

    public convenience init(_ configuration: PylonConfiguration.Log, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(level: configuration.level, format: configuration.format, environment: environment)
    }

    public var level: Logger.Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    public var format: PylonConfiguration.LogFormat {
        get { state.withLock { $0.format } }
        set { state.withLock { $0.format = newValue } }
    }

    /// Applies a (re)loaded `[log]` section; `PYLON_LOG`, when set, keeps its level.
    public func apply(_ configuration: PylonConfiguration.Log) {
        state.withLock { state in
            state.level = environmentLevel ?? configuration.level
            state.format = configuration.format
        }
    }
}

/// Where log lines go: standard error (foreground) or a file rotated by size (background).
public final class LogSink: Sendable {
    private enum Target {
        case standardError
        case file(path: String, descriptor: Int32, size: Int)
    }

    // Guards the descriptor and the running size: a line is written and counted in one step, and
    // rotation happens between lines.
    private let target: Mutex<Target>
    private let maximumBytes: Int
    private let keep: Int

    private init(target: Target, maximumBytes: Int, keep: Int) {
        self.target = Mutex(target)
        self.maximumBytes = maximumBytes
        self.keep = keep
    }

    deinit {
        target.withLock { target in
            if case .file(_, let descriptor, _) = target { _ = close(descriptor) }
        }
    }

    /// Lines to standard error.
    public static func standardError() -> LogSink {
        LogSink(target: .standardError, maximumBytes: .max, keep: 0)
    }

    /// Lines appended to `file` (mode 0600, its directory created 0700). When a line would take the
    /// file past `maximumBytes`, it becomes `file.1` (`file.1` becomes `file.2`, ...), keeping `keep`
    /// old files.
    public static func file(_ file: URL, maximumBytes: Int = 10 << 20, keep: Int = 3) throws -> LogSink {
        let path = file.path(percentEncoded: false)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (descriptor, size) = try open(path)
        return LogSink(target: .file(path: path, descriptor: descriptor, size: size), maximumBytes: maximumBytes, keep: max(keep, 0))
    }

    private static func open(_ path: String) throws -> (Int32, Int) {
        let descriptor = systemOpenForAppend(path)
        guard descriptor >= 0 else {
            let code = errno
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        var info = stat()
        let size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        return (descriptor, size)
    }

    /// Writes one line (the `\n` is added).
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        target.withLock { target in
            switch target {
            case .standardError:
                Self.writeAll(STDERR_FILENO, bytes)
            case .file(let path, var descriptor, var size):
                if size > 0 && size + bytes.count > maximumBytes {
                    if let reopened = rotate(path: path, descriptor: descriptor) {
                        descriptor = reopened
                        size = 0
                    }
                }
                Self.writeAll(descriptor, bytes)
                size += bytes.count
                target = .file(path: path, descriptor: descriptor, size: size)
            }
        }
    }

    /// Shifts `path.N` to `path.N+1` (dropping the oldest), `path` to `path.1`, and opens a new `path`.
    private func rotate(path: String, descriptor: Int32) -> Int32? {
        _ = close(descriptor)
        if keep > 0 {
            _ = unlink("\(path).\(keep)")
            if keep > 1 {
                for index in stride(from: keep - 1, through: 1, by: -1) {
                    _ = rename("\(path).\(index)", "\(path).\(index + 1)")
                }
            }
            _ = rename(path, "\(path).1")
        } else {
            _ = unlink(path)
        }
        return try? Self.open(path).0
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard var pointer = raw.baseAddress else { return }
            var remaining = raw.count
            while remaining > 0 {
                let written = systemWrite(descriptor, pointer, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // nowhere left to report a failing log
                }
                remaining -= written
                pointer += written
            }
        }
    }
}

// The C calls under names that the methods `open` and `write` above do not shadow.

private func systemOpenForAppend(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
}

private func systemWrite(_ descriptor: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, pointer, count)
}

/// pylon's `LogHandler`: text lines for people or JSON lines for machines, one line per event.
///
/// Text: `2026-11-29T15:07:00.123Z info pylon.daemon: relay connected relay.url=wss://nos.lol`.
/// JSON: `{"time":"…","level":"info","label":"pylon.daemon","message":"relay connected","metadata":{"relay.url":"wss://nos.lol"}}`.
/// A value wrapped in ``Secret`` prints `<redacted>` in both.
public struct PylonLogHandler: LogHandler {
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let settings: LogSettings
    private let sink: LogSink
    /// A level set on this handler only; `nil` follows the shared settings.
    private var localLevel: Logger.Level?

    public init(label: String, settings: LogSettings, sink: LogSink, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.settings = settings
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public var logLevel: Logger.Level {
        get { localLevel ?? settings.level }
        set { localLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = .string(String(describing: error)) }
        let line = Self.format(
            format: settings.format, time: Date(), level: event.level, label: label, message: event.message.description,
            metadata: merged)
        sink.write(line)
    }

    /// One log line, without its newline.
    static func format(
        format: PylonConfiguration.LogFormat, time: Date, level: Logger.Level, label: String, message: String,
        metadata: Logger.Metadata
    ) -> String {
        switch format {
        case .json:
            var object: JSON = [
                "time": .string(RFC3339.string(from: time)), "level": .string(level.rawValue), "label": .string(label),
                "message": .string(message),
            ]
            if !metadata.isEmpty { object["metadata"] = jsonObject(metadata) }
            return object.serialized
        case .text:
            var line = "\(RFC3339.string(from: time)) \(level.rawValue) \(label): \(escapeLineBreaks(message))"
            for key in metadata.keys.sorted() {
                guard let value = metadata[key] else { continue }
                line += " \(key)=\(textValue(value))"
            }
            return line
        }
    }

    private static func jsonObject(_ metadata: Logger.Metadata) -> JSON {
        .object(metadata.sorted { $0.key < $1.key }.map { JSON.Member($0.key, json($0.value)) })
    }

    private static func json(_ value: Logger.MetadataValue) -> JSON {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .dictionary(let dictionary): jsonObject(dictionary)
        case .array(let array): .array(array.map(json))
        }
    }

    private static func textValue(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): quoteIfNeeded(text)
        case .stringConvertible(let convertible): quoteIfNeeded(convertible.description)
        case .dictionary(let dictionary):
            "{" + dictionary.keys.sorted().compactMap { key in dictionary[key].map { "\(key)=\(textValue($0))" } }.joined(separator: ",") + "}"
        case .array(let array): "[" + array.map(textValue).joined(separator: ",") + "]"
        }
    }

    private static func quoteIfNeeded(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
        guard needsQuotes else { return text }
        return JSON.string(text).serialized
    }

    private static func escapeLineBreaks(_ text: String) -> String {
        guard text.contains(where: \.isNewline) else { return text }
        return text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Starting the process's logging.
public enum PylonLogging {
    /// Where the lines go.
    public enum Destination: Sendable {
        /// Foreground: standard error.
        case standardError
        /// Background: a file rotated by size.
        case file(URL, maximumBytes: Int = 10 << 20, keep: Int = 3)
    }

    /// Where the daemon logs: standard error in the foreground; otherwise `logs/pylon.log`,
    /// rotated at `[log].max_size_mb`, keeping `[log].max_files` old files.
    public static func destination(_ configuration: PylonConfiguration.Log, paths: PylonPaths, foreground: Bool) -> Destination {
        foreground ? .standardError : .file(paths.logFile, maximumBytes: configuration.maximumBytes, keep: configuration.maxFiles)
    }

    /// A handler factory for `LoggingSystem.bootstrap`, sharing `settings` and `sink`.
    public static func makeFactory(settings: LogSettings, sink: LogSink) -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler {
        { label, provider in PylonLogHandler(label: label, settings: settings, sink: sink, metadataProvider: provider) }
    }

    /// Bootstraps swift-log once per process and returns the settings to change on reload.
    ///
    /// - Throws: when the log file cannot be opened.
    @discardableResult
    public static func bootstrap(
        _ configuration: PylonConfiguration.Log, destination: Destination,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LogSettings {
        let settings = LogSettings(configuration, environment: environment)
        let sink: LogSink
        switch destination {
        case .standardError: sink = .standardError()
        case .file(let url, let maximumBytes, let keep): sink = try .file(url, maximumBytes: maximumBytes, keep: keep)
        }
        LoggingSystem.bootstrap(makeFactory(settings: settings, sink: sink), metadataProvider: nil)
        return settings
    }
}
