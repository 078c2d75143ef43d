@testable import Host
import PylonAsync
import PylonBasics
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An agent learns that its daemon ended without looking every second.
@Suite("host: watching a process end")
struct ProcessWatchTests {
    #if os(Linux)
        @Test("the watch is fulfilled when the process ends, not before")
        func fulfilledWhenGone() async throws {
            let pid = try Spawn.start("/bin/sleep", arguments: ["30"], group: .newProcessGroup)
            defer { _ = Spawn.waitBlocking(pid) }
            let gone = try #require(ProcessWatch.whenGone(pid), "pidfd_open is available on this system")
            #expect(await gone.wait(timeout: .milliseconds(300)) == nil, "still running")
            kill(pid, SIGKILL)
            #expect(await gone.wait(timeout: .seconds(5)) != nil)
        }

        @Test("a process number that names no process is not watched")
        func noSuchProcess() {
            #expect(ProcessWatch.whenGone(Int32.max) == nil)
        }
    #endif
}
