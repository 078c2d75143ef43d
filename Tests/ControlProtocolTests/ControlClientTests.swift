import ControlProtocol
import Foundation
import PylonBasics
import PylonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw socket bound at `path`, listening or not, that never accepts: to play a stale socket (bound,
/// not listening) and a hung daemon (listening, never answering).
final class RawSocket {
    let descriptor: Int32

    init(path: String, listening: Bool) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let result = withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw POSIXError(.EADDRINUSE) }
        if listening { listen(descriptor, 8) }
    }

    deinit { close(descriptor) }
}

@Suite("ControlClient")
struct ControlClientTests {
    @Test("no socket file: notRunning, and the message says how to start the daemon")
    func missingSocket() throws {
        let home = try TestHome()
        #expect {
            try ControlClient(socketPath: home.file("control.sock").path(percentEncoded: false))
        } throws: { error in
            guard let error = error as? ControlClientError else { return false }
            return error.code == .notRunning && error.message.contains("not running") && error.message.contains("pylon start")
        }
    }

    @Test("a stale socket file (nobody listening): notRunning")
    func staleSocket() throws {
        let home = try TestHome()
        let path = home.file("control.sock").path(percentEncoded: false)
        let stale = try RawSocket(path: path, listening: false)
        #expect {
            try ControlClient(socketPath: path)
        } throws: { error in
            (error as? ControlClientError)?.code == .notRunning
        }
        _ = stale
    }

    @Test("a daemon that never answers: timeout, quickly")
    func hungDaemon() throws {
        let home = try TestHome()
        let path = home.file("control.sock").path(percentEncoded: false)
        let hung = try RawSocket(path: path, listening: true)
        let client = try ControlClient(socketPath: path, timeout: .milliseconds(100))
        let started = ContinuousClock.now
        #expect {
            try client.send(.status)
        } throws: { error in
            (error as? ControlClientError)?.code == .timeout
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        _ = hung
    }

    @Test("a path longer than a socket address is an error, not a crash")
    func longPath() {
        let path = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: ControlClientError.self) { try ControlClient(socketPath: path) }
    }
}
