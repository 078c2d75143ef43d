@testable import Host
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An idle agent gives back the clean file pages it mapped, and nothing else.
@Suite("host: an idle agent gives back clean file pages")
struct CleanPagesTests {
    @Test("smaps is read: ranges, read-only file mappings, resident and anonymous sizes")
    func parsing() {
        let text = """
            55f21b55b000-55f21d2ab000 r-xp 006c5000 fd:00 1234 /usr/bin/pylon
            Size:              30016 kB
            Rss:                5632 kB
            Anonymous:             0 kB
            Locked:                0 kB
            VmFlags: rd ex mr mw me
            55f21d2ab000-55f21d3fc000 r--p 02415000 fd:00 1234 /usr/bin/pylon
            Rss:                1352 kB
            Anonymous:          1352 kB
            55f21d3fc000-55f21d93e000 rw-p 02565000 fd:00 1234 /usr/bin/pylon
            Rss:                3264 kB
            Anonymous:           488 kB
            7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]
            Rss:                   8 kB
            Anonymous:             0 kB
            7f0000000000-7f0000100000 r--p 00000000 fd:00 99 /usr/lib/libc.so.6
            Rss:                 152 kB
            Anonymous:             0 kB
            Locked:              152 kB
            7f0000200000-7f0000300000 r--p 00000000 fd:00 99 /usr/lib/libcut.so
            Rss:                  64 kB
            """
        let mappings = CleanPages.mappings(smaps: text)
        #expect(mappings.count == 6)
        #expect(
            mappings.first
                == CleanPages.Mapping(start: 0x55f2_1b55_b000, end: 0x55f2_1d2a_b000, readOnlyFile: true, residentKiB: 5632, anonymousKiB: 0))
        #expect(
            mappings.map(\.releasable) == [true, false, false, false, false, false],
            "code yes; relocated data, writable data, vdso, locked pages and a mapping whose anonymous size the text does not say no")
    }

    #if os(Linux)
        @Test("a read-only file mapping's pages leave the resident set and read back the same")
        func releasesCleanFilePages() throws {
            let (path, fd) = try Self.file(pages: 64)
            defer { close(fd); unlink(path) }
            let size = 64 * 4096
            let base = try #require(mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0))
            #expect(base != MAP_FAILED)
            defer { munmap(base, size) }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            var sum = 0
            for page in 0..<64 { sum += Int(bytes[page * 4096 + 7]) }
            #expect(sum == (0..<64).reduce(0) { $0 + $1 % 251 })
            #expect(Self.resident(base) == size / 1024)

            let released = CleanPages.release()
            #expect(released.mappings >= 1 && released.kibibytes >= size / 1024)
            #expect(Self.resident(base) == 0)
            // The next read maps the file's bytes again.
            #expect(bytes[63 * 4096 + 7] == UInt8(63 % 251))
        }

        @Test("pages a process wrote are kept: a private file mapping written then made read-only (as the loader's RELRO), and the heap")
        func keepsWrittenPages() throws {
            let (path, fd) = try Self.file(pages: 4)
            defer { close(fd); unlink(path) }
            let size = 4 * 4096
            let base = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0))
            #expect(base != MAP_FAILED)
            defer { munmap(base, size) }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            bytes[4096 + 7] = 0xAB
            #expect(mprotect(base, size, PROT_READ) == 0)
            let heap = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 20)
            defer { heap.deallocate() }
            heap.initialize(repeating: 0xCD, count: 1 << 20)

            CleanPages.release()
            #expect(bytes[4096 + 7] == 0xAB, "the written page is still this process's copy")
            #expect(bytes[7] == 0, "the file's own bytes")
            #expect(heap[12345] == 0xCD && heap[(1 << 20) - 1] == 0xCD)
        }

        /// A temporary file of `pages` pages; byte 7 of page n is n % 251.
        static func file(pages: Int) throws -> (String, Int32) {
            var template = Array("/tmp/pylon-clean-pages.XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            try #require(fd >= 0)
            let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var content = [UInt8](repeating: 0, count: pages * 4096)
            for page in 0..<pages { content[page * 4096 + 7] = UInt8(page % 251) }
            #expect(content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == content.count)
            return (path, fd)
        }

        /// The resident KiB of the mapping that starts at `base`, from smaps.
        static func resident(_ base: UnsafeMutableRawPointer) -> Int? {
            let start = UInt(bitPattern: base)
            return CleanPages.readProcFile("/proc/self/smaps").flatMap { text in
                CleanPages.mappings(smaps: text).first { $0.start == start }?.residentKiB
            }
        }
    #endif
}
