import Foundation
import PylonAsync

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Learns that a process ended without asking every second: an agent's process watches the daemon
/// that started it this way, and sleeps until its next tick instead of waking once a second to
/// compare `getppid()`.
///
/// On Linux (5.3 and later) a pidfd of the process becomes readable when it exits; one thread
/// waits for that in `poll`, costing nothing meanwhile. Elsewhere, or when the pidfd cannot be
/// opened, ``whenGone(_:)`` answers nil and the caller keeps looking itself.
enum ProcessWatch {
    /// A promise fulfilled once process `pid` has ended; nil when it cannot be watched this way.
    static func whenGone(_ pid: Int32) -> Promise<Void>? {
        #if os(Linux)
            guard let open = pidfdOpen else { return nil }
            let fd = open(pid, 0)
            guard fd >= 0 else { return nil }
            let gone = Promise<Void>()
            let thread = Thread {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                var ready: Int32
                repeat { ready = poll(&entry, 1, -1) } while ready < 0 && errno == EINTR
                close(fd)
                // A poll that failed otherwise says nothing about the process: the caller's own
                // look (at each of its wake-ups) still finds it gone.
                if ready > 0 { _ = gone.fulfill(()) }
            }
            thread.name = "pylon-watch-\(pid)"
            thread.stackSize = 128 << 10
            thread.start()
            return gone
        #else
            return nil
        #endif
    }

    #if os(Linux)
        /// glibc's `pidfd_open` (2.36 and later), looked up at run time: Swift's Glibc module does
        /// not import `<sys/pidfd.h>`, and `syscall` is variadic, so not callable from Swift.
        private static let pidfdOpen: (@convention(c) (pid_t, UInt32) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (pid_t, UInt32) -> Int32).self)
        }()
    #endif
}
