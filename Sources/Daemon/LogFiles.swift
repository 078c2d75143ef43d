public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if os(Linux)
    // Glibc's `struct stat` is owned by CDispatch here; see ControlSocketFile.swift.
    import CDispatch
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads the daemon's log as `pylon logs` shows it: `pylon.log` and the files ``LogSink`` rotated
/// out of it (`pylon.log.1` the newest, `pylon.log.2` before it, …), as one stream of lines, and
/// follows it as `tail -F` does: when the file is rotated, what was left in the old file is read,
/// then any rotated file written in between, then the new file from its start, so no line is lost
/// or shown twice.
///
/// One reader serves one task; it keeps the current file open from the moment it is made, so the
/// lines before that moment (``backlog(_:)``) and after it (``poll()``) meet without a gap.
public final class LogReader {
    /// `logs/pylon.log`.
    public let file: URL
    private let path: String
    private var descriptor: Int32 = -1
    private var identity: FileIdentity?
    /// How far the current file has been read: up to the end of its last complete line.
    private var offset = 0
    /// The start of a line whose end has not been written yet.
    private var partial: [UInt8] = []

    public init(_ file: URL) {
        self.file = file
        self.path = file.path(percentEncoded: false)
        if openCurrent() {
            // Start after the last complete line: what comes after it is the follower's.
            let size = Self.size(of: descriptor)
            offset = Self.endOfLastLine(descriptor, before: size)
        }
    }

    deinit {
        if descriptor >= 0 { _ = close(descriptor) }
    }

    /// Whether `pylon.log` existed when the reader was made (or appeared since, once polled).
    public var exists: Bool { descriptor >= 0 }

    /// The last `count` lines written before the reader was made, oldest first, taken from
    /// `pylon.log` and, as far back as needed, its rotated files.
    public func backlog(_ count: Int) -> [String] {
        guard count > 0 else { return [] }
        var lines: [String] = []
        if descriptor >= 0 {
            lines = Self.lastLines(descriptor, end: offset, count: count)
        }
        for rotated in rotatedPaths() where lines.count < count {
            let fd = systemOpenForReading(rotated)
            guard fd >= 0 else { continue }
            defer { _ = close(fd) }
            // A rotation since the reader was made moved the current file here: skip it.
            if let identity, FileIdentity(descriptor: fd) == identity { continue }
            lines = Self.lastLines(fd, end: Self.size(of: fd), count: count - lines.count) + lines
        }
        return lines
    }

    /// The complete lines written since the last call (or since the reader was made), across
    /// rotations. Returns at once; an empty array means nothing new yet.
    public func poll() -> [String] {
        var lines: [String] = []
        if descriptor < 0 {
            guard openCurrent() else { return [] }
            offset = 0
        }
        readAvailable(into: &lines)
        guard let now = FileIdentity(path: path) else {
            // Between the rotation's rename and the writer's next line there is no pylon.log.
            return lines
        }
        if now != identity {
            // Rotated: the old file gets no more lines once it is renamed; read its last ones.
            readAvailable(into: &lines)
            flushPartial(into: &lines)
            // Files rotated out after it and before the current one (several rotations between
            // two polls). If the old file is gone, every rotated file left is newer than it.
            let rotated = rotatedPaths()
            let oldIndex = rotated.firstIndex { FileIdentity(path: $0) == identity } ?? rotated.count
            for between in rotated[..<oldIndex].reversed() {
                let fd = systemOpenForReading(between)
                guard fd >= 0 else { continue }
                var start = 0
                lines += Self.completeLines(Self.readAll(fd, from: &start), partial: &partial)
                flushPartial(into: &lines)
                _ = close(fd)
            }
            _ = close(descriptor)
            descriptor = -1
            if openCurrent() {
                offset = 0
                readAvailable(into: &lines)
            }
        } else if Self.size(of: descriptor) < offset {
            // Truncated in place: read it again from the start.
            offset = 0
            partial = []
            readAvailable(into: &lines)
        }
        return lines
    }

    /// One line as a JSON object for `pylon logs --json`: a line of a `format = "json"` log is
    /// one already and is given as written; any other line (the text format) is `{"line": "…"}`.
    public static func jsonObject(_ line: String) -> JSON {
        if line.first == "{", let parsed = try? JSON.parse(line), case .object = parsed { return parsed }
        return .object([.init("line", .string(line))])
    }

    // MARK: Files

    /// `pylon.log.1`, `pylon.log.2`, … while they exist.
    private func rotatedPaths() -> [String] {
        var paths: [String] = []
        var index = 1
        while access("\(path).\(index)", F_OK) == 0 {
            paths.append("\(path).\(index)")
            index += 1
        }
        return paths
    }

    private func openCurrent() -> Bool {
        let fd = systemOpenForReading(path)
        guard fd >= 0 else { return false }
        descriptor = fd
        identity = FileIdentity(descriptor: fd)
        partial = []
        return true
    }

    /// Reads the current file from `offset` to its end, appending its complete lines.
    private func readAvailable(into lines: inout [String]) {
        guard descriptor >= 0 else { return }
        lines += Self.completeLines(Self.readAll(descriptor, from: &offset), partial: &partial)
    }

    private func flushPartial(into lines: inout [String]) {
        guard !partial.isEmpty else { return }
        lines.append(String(decoding: partial, as: UTF8.self))
        partial = []
    }

    // MARK: Bytes

    /// Splits `bytes` after `partial` into complete lines; what follows the last newline becomes
    /// the new `partial`.
    static func completeLines(_ bytes: [UInt8], partial: inout [UInt8]) -> [String] {
        guard !bytes.isEmpty else { return [] }
        var lines: [String] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            let line = partial + bytes[start..<index]
            partial = []
            lines.append(String(decoding: line.last == 0x0D ? line.dropLast() : line[...], as: UTF8.self))
            start = index + 1
        }
        partial += bytes[start...]
        return lines
    }

    /// Everything from `offset` to the end of the file; `offset` moves past it.
    static func readAll(_ fd: Int32, from offset: inout Int) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            result += chunk[0..<count]
            offset += count
        }
        return result
    }

    /// The last `count` complete lines among the file's first `end` bytes, oldest first, reading
    /// backwards in chunks so a large file costs only its tail.
    static func lastLines(_ fd: Int32, end: Int, count: Int) -> [String] {
        guard count > 0, end > 0 else { return [] }
        var chunks: [[UInt8]] = []
        var position = end
        var newlines = 0
        // One newline more than lines wanted marks where the earliest wanted line starts.
        while position > 0 && newlines <= count {
            let length = min(65536, position)
            position -= length
            var chunk = [UInt8](repeating: 0, count: length)
            var filled = 0
            while filled < length {
                let got = chunk.withUnsafeMutableBytes { raw in
                    pread(fd, raw.baseAddress.map { $0 + filled }, length - filled, off_t(position + filled))
                }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                filled += got
            }
            chunk.removeLast(length - filled)
            newlines += chunk.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            chunks.append(chunk)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
        for chunk in chunks.reversed() { bytes += chunk }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
        if bytes.last == 0x0A { lines.removeLast() }  // the empty piece after the last newline
        if position > 0 { lines.removeFirst() }  // it may have started before the bytes read
        return Array(lines.suffix(count))
    }

    /// The offset just after the last newline among the first `size` bytes (0 when none).
    static func endOfLastLine(_ fd: Int32, before size: Int) -> Int {
        var position = size
        var byte: UInt8 = 0
        while position > 0 {
            let got = pread(fd, &byte, 1, off_t(position - 1))
            if got < 0 && errno == EINTR { continue }
            guard got == 1 else { return 0 }
            if byte == 0x0A { return position }
            position -= 1
        }
        return 0
    }

    static func size(of fd: Int32) -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }
}

/// A file's device and inode: a rotated file keeps them under its new name.
private struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init?(descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

private func systemOpenForReading(_ path: String) -> Int32 {
    open(path, O_RDONLY | O_CLOEXEC)
}
