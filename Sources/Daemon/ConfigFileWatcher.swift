public import Foundation
public import PylonBasics
import Synchronization

#if os(Linux)
    // Glibc's `struct stat` and `timespec` are owned by the module that first includes their header,
    // which here is CDispatch; MemberImportVisibility needs it imported to use their fields.
    import CDispatch
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#if os(Linux)
    // Glibc's `struct stat` and `timespec` are owned by the module that first includes their header,
    // which here is CDispatch; MemberImportVisibility needs it imported to use their fields.
    import CDispatch
#endif
#endif

/// Notices changes of one file, whether it is edited in place or replaced by a rename (as editors
/// and `sed -i` do).
///
/// It watches the file's directory (inotify on Linux, a dispatch source on macOS) and filters the
/// events by name, so the watch survives the file being replaced. Bursts of events (an editor's
/// write, truncate and close) are debounced into one notification.
public struct ConfigFileWatcher: Sendable {
    public let file: URL
    /// How long the file must stay quiet before a change is reported.
    public let debounce: Duration
    private let tally = Tally()

    public init(file: URL, debounce: Duration = .milliseconds(150)) {
        self.file = file
        self.debounce = debounce
    }

    /// What the watch has seen so far: a test's end marker, since a change that was not reported
    /// leaves no other trace.
    public struct Counts: Sendable, Equatable {
        /// Events about other files of the directory, dropped.
        public var ignored = 0
        /// Events about the file (or a queue overflow).
        public var relevant = 0
        /// Changes reported on the stream.
        public var notified = 0
        /// A change is waiting for the file to be quiet for the debounce time.
        public var pending = false
    }

    /// The counts of the watch started by ``changes()``.
    public var counts: Counts { tally.withLock { $0 } }

    /// The counts, shared by the watcher and its watch's thread.
    final class Tally: Sendable {
        private let counts = Mutex(Counts())

        func withLock<Result>(_ body: (inout Counts) -> Result) -> Result {
            counts.withLock { body(&$0) }
        }
    }

    /// Starts watching. The stream yields once per settled change; dropping or cancelling its
    /// iteration stops the watch and frees its resources.
    ///
    /// - Throws: ``ConfigFileWatcherError`` when the directory cannot be watched (it does not exist,
    ///   say).
    public func changes() throws(ConfigFileWatcherError) -> AsyncStream<Void> {
        let directory = file.deletingLastPathComponent().path(percentEncoded: false)
        let name = file.lastPathComponent
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        #if canImport(Glibc)
        let watch = try InotifyWatch(directory: directory)
        let debounceMilliseconds = Self.milliseconds(debounce)
        let tally = self.tally
        let thread = Thread {
            watch.run(name: name, debounceMilliseconds: debounceMilliseconds, tally: tally) { continuation.yield() }
            continuation.finish()
        }
        thread.name = "pylon.config-watcher"
        thread.start()
        continuation.onTermination = { _ in watch.stop() }
        #elseif canImport(Darwin)
        let tally = self.tally
        let watch = try DispatchWatch(directory: directory, name: name, debounce: debounce) {
            tally.withLock { $0.notified += 1 }
            continuation.yield()
        }
        continuation.onTermination = { _ in watch.stop() }
        #endif
        return stream
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

#if os(Linux)
    // Glibc's `struct stat` and `timespec` are owned by the module that first includes their header,
    // which here is CDispatch; MemberImportVisibility needs it imported to use their fields.
    import CDispatch
#endif
#if canImport(Glibc)
/// An inotify watch on a directory, read by one thread that sleeps in `poll` on the inotify
/// descriptor and a wake-up pipe.
///
/// The descriptors belong to this object and close when the last reference (the thread's or the
/// stream's) goes away, so `stop()` never writes to a descriptor that was already reused.
private final class InotifyWatch: Sendable {
    private let inotify: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init(directory: String) throws(ConfigFileWatcherError) {
        let inotify = inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC))
        guard inotify >= 0 else {
            throw ConfigFileWatcherError(.watchFailed, "cannot start inotify: \(String(cString: strerror(errno)))")
        }
        // No IN_MODIFY: with PYLON_HOME the database shares this directory, and every write of it
        // would wake the watcher. An edit in place ends with IN_CLOSE_WRITE.
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)
        guard inotify_add_watch(inotify, directory, mask) >= 0 else {
            let reason = String(cString: strerror(errno))
            close(inotify)
            throw ConfigFileWatcherError(.watchFailed, "cannot watch \(directory) for config changes: \(reason)")
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let reason = String(cString: strerror(errno))
            close(inotify)
            throw ConfigFileWatcherError(.watchFailed, "cannot create a pipe for the config watcher: \(reason)")
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        self.inotify = inotify
        self.wakeRead = pipeEnds[0]
        self.wakeWrite = pipeEnds[1]
    }

    deinit {
        close(inotify)
        close(wakeRead)
        close(wakeWrite)
    }

    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Waits for events until `stop()`. `changed` runs once the file has been quiet for the debounce time.
    func run(name: String, debounceMilliseconds: Int32, tally: ConfigFileWatcher.Tally, changed: () -> Void) {
        var deadline: UInt64?  // monotonic milliseconds at which to report the pending change
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: MemoryLayout<inotify_event>.alignment)
        defer { buffer.deallocate() }
        let target = Array(name.utf8)
        while true {
            var fds = [
                pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let timeout: Int32 = deadline.map { Int32(clamping: Int64($0) - Int64(Self.now())) }.map { max($0, 0) } ?? -1
            let ready = poll(&fds, 2, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let (relevant, ignored) = readEvents(buffer, matching: target)
                if relevant > 0 { deadline = Self.now() + UInt64(debounceMilliseconds) }
                tally.withLock {
                    $0.relevant += relevant
                    $0.ignored += ignored
                    $0.pending = deadline != nil
                }
            } else if fds[0].revents != 0 {
                return  // the inotify descriptor failed
            }
            if let due = deadline, Self.now() >= due {
                deadline = nil
                tally.withLock {
                    $0.notified += 1
                    $0.pending = false
                }
                changed()
            }
        }
    }

    /// Drains the pending events: how many concern `target` (a queue overflow counts as one), and
    /// how many other names.
    private func readEvents(_ buffer: UnsafeMutableRawBufferPointer, matching target: [UInt8]) -> (relevant: Int, ignored: Int) {
        var relevant = 0
        var ignored = 0
        while true {
            let count = read(inotify, buffer.baseAddress, buffer.count)
            if count <= 0 { return (relevant, ignored) }
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= count {
                let mask = buffer.load(fromByteOffset: offset + 4, as: UInt32.self)
                let length = Int(buffer.load(fromByteOffset: offset + 12, as: UInt32.self))
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { relevant += 1 }
                let nameStart = offset + headerSize
                if length > 0, nameStart + length <= count {
                    let nameBytes = UnsafeRawBufferPointer(rebasing: buffer[nameStart..<(nameStart + length)])
                    let end = nameBytes.firstIndex(of: 0) ?? length
                    if nameBytes[..<end].elementsEqual(target) { relevant += 1 } else { ignored += 1 }
                }
                offset = nameStart + length
            }
        }
    }

    private static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}
#elseif canImport(Darwin)
/// Dispatch sources on the directory (renames, creations) and on the file (writes in place); the
/// file's source is re-created after each event because a replaced file is a new vnode.
private final class DispatchWatch: @unchecked Sendable {
    // Everything below is touched only on `queue`.
    private let queue = DispatchQueue(label: "pylon.config-watcher")
    private let directorySource: any DispatchSourceFileSystemObject
    private var fileSource: (any DispatchSourceFileSystemObject)?
    private var pending: DispatchWorkItem?
    private let path: String
    private let debounce: Duration
    private let changed: @Sendable () -> Void

    init(directory: String, name: String, debounce: Duration, changed: @escaping @Sendable () -> Void) throws(ConfigFileWatcherError) {
        let descriptor = open(directory, O_EVTONLY)
        guard descriptor >= 0 else {
            throw ConfigFileWatcherError(.watchFailed, "cannot watch \(directory) for config changes: \(String(cString: strerror(errno)))")
        }
        self.path = (directory as NSString).appendingPathComponent(name)
        self.debounce = debounce
        self.changed = changed
        self.directorySource = DispatchSource.makeFileSystemObjectSource(fileDescriptor: descriptor, eventMask: [.write], queue: queue)
        directorySource.setEventHandler { [weak self] in self?.noticed() }
        directorySource.setCancelHandler { close(descriptor) }
        directorySource.resume()
        queue.async { self.watchFile() }
    }

    func stop() {
        queue.async {
            self.pending?.cancel()
            self.fileSource?.cancel()
            self.directorySource.cancel()
        }
    }

    private func watchFile() {
        fileSource?.cancel()
        fileSource = nil
        let descriptor = open(path, O_EVTONLY)
        guard descriptor >= 0 else { return }
        let source = DispatchSource.makeFileSystemObjectSource(
            fileDescriptor: descriptor, eventMask: [.write, .extend, .delete, .rename], queue: queue)
        source.setEventHandler { [weak self] in self?.noticed() }
        source.setCancelHandler { close(descriptor) }
        source.resume()
        fileSource = source
    }

    private func noticed() {
        pending?.cancel()
        let item = DispatchWorkItem { [weak self] in
            guard let self else { return }
            self.watchFile()
            self.changed()
        }
        pending = item
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(ConfigFileWatcher.milliseconds(debounce))), execute: item)
    }
}
#endif
