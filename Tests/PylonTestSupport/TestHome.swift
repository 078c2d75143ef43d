public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory for one test, used as `PYLON_HOME`: short (`/tmp/pylon-XXXXXX`) so a Unix
/// socket path inside it fits, mode 0700, removed with everything in it when the value goes away.
public final class TestHome: Sendable {
    public let url: URL
    public var path: String { url.path(percentEncoded: false) }

    public init() throws {
        var template = Array("/tmp/pylon-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }
        }
        guard let created else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.url = URL(fileURLWithPath: String(cString: created), isDirectory: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    /// A path inside the home.
    public func file(_ name: String) -> URL {
        url.appending(path: name)
    }

    /// Writes `text` to `name` inside the home and returns its URL.
    @discardableResult
    public func write(_ text: String, to name: String) throws -> URL {
        let file = self.file(name)
        try Data(text.utf8).write(to: file)
        return file
    }
}

/// Polls `condition` until it holds or `timeout` passes; never a fixed sleep.
public func awaitCondition(
    timeout: Duration = .seconds(5), interval: Duration = .milliseconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
