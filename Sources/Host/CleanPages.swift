#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An idle agent's process gives back the clean file pages it mapped while it was busy.
///
/// Starting up and ticking run much of the binary's code (relays, NIP-90, the store, the wallet)
/// and of its libraries; an agent then sleeps for minutes or hours. Those pages are the binary's
/// and the libraries' own bytes in the page cache, shared with the daemon and every other agent:
/// they stay there, but each process that touched one keeps it mapped, and counted in its resident
/// set, until it exits. `release()` unmaps them from this process (`MADV_DONTNEED`); the next
/// access maps the cached page again (a minor fault, no disk read).
///
/// Only pages that are the file's bytes unchanged are given back: a mapping that cannot be
/// written (`r--p`, `r-xp`), backed by a file, and holding no anonymous page. The relocated
/// read-only data (RELRO: written by the loader, then made read-only) holds anonymous pages and is
/// left alone, as are the heap, the stacks and every writable mapping: for those, `MADV_DONTNEED`
/// would throw data away. Linux only; elsewhere it does nothing.
public enum CleanPages {
    /// What one call gave back.
    public struct Released: Sendable, Equatable {
        /// Mappings unmapped.
        public var mappings = 0
        /// Their resident size before, in KiB.
        public var kibibytes = 0
    }

    /// One mapping of `/proc/self/smaps`: its range, whether it may be given back, its resident KiB.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var readOnlyFile: Bool
        var residentKiB = 0
        /// Nil until its line is read: a mapping whose anonymous size was not seen (a cut text)
        /// is never given back.
        var anonymousKiB: Int?
        var lockedKiB = 0

        var releasable: Bool { readOnlyFile && residentKiB > 0 && anonymousKiB == 0 && lockedKiB == 0 }
    }

    /// Gives back the clean file pages this process maps.
    @discardableResult
    public static func release() -> Released {
        #if os(Linux)
            guard let text = readProcFile("/proc/self/smaps") else { return Released() }
            var released = Released()
            for mapping in mappings(smaps: text) where mapping.releasable {
                guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
                if madvise(address, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 {
                    released.mappings += 1
                    released.kibibytes += mapping.residentKiB
                }
            }
            return released
        #else
            return Released()
        #endif
    }

    /// The mappings of an smaps text. A header line is `start-end perms offset dev inode [path]`;
    /// the lines after it are `Field: value kB`.
    static func mappings(smaps text: String) -> [Mapping] {
        var result: [Mapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), start < end else {
                    continue
                }
                let permissions = Array(fields[1].utf8)
                // r, no w, private; inode (field 5) not 0: a file, not [vdso], [vvar] or [stack].
                let readOnlyFile =
                    permissions.count == 4 && permissions[0] == UInt8(ascii: "r") && permissions[1] == UInt8(ascii: "-")
                    && permissions[3] == UInt8(ascii: "p") && fields[4] != "0"
                result.append(Mapping(start: start, end: end, readOnlyFile: readOnlyFile))
            } else if !result.isEmpty, fields.count >= 2, let value = Int(fields[1]) {
                switch fields[0] {
                case "Rss:": result[result.count - 1].residentKiB = value
                case "Anonymous:": result[result.count - 1].anonymousKiB = value
                case "Locked:": result[result.count - 1].lockedKiB = value
                default: break
                }
            }
        }
        return result
    }

    /// A file of /proc read whole. (Their size is 0 to stat, and Foundation's
    /// `String(contentsOfFile:)` stops after the first few KB of smaps: a cut text.)
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
