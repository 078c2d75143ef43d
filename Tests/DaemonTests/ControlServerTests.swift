import ControlProtocol
import Daemon
import Foundation
import PylonBasics
import PylonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("ControlServer")
struct ControlServerTests {
    @Test("several requests on one connection are answered in order")
    func severalRequests() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let client = try ControlClient(socketPath: path)
                #expect(try client.send(.ping) == .pong)
                #expect(try client.send(.status) == .status(FakeHandler.report))
                #expect(try client.send(.events(since: 4)) == .events([JournalEntry(seq: 5, time: Date(timeIntervalSince1970: 0), kind: .daemonStarted)]))
                #expect(try client.send(.shutdown) == .ok)
                #expect(try client.send(.reload) == .error("config.toml:3: provider.max_queue: expected an integer"))
                #expect(try client.send(.ping) == .pong)
            }
        }
    }

    @Test("20 clients at once, each with several requests")
    func concurrentClients() async throws {
        try await ServerFixture().run { path in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await offPool {
                            let client = try ControlClient(socketPath: path)
                            var answered = 0
                            for _ in 0..<10 {
                                guard try client.send(.ping) == .pong else { continue }
                                guard case .status = try client.send(.status) else { continue }
                                let result = try client.submitJob(SubmitJob(prompt: "client \(index)"))
                                if result.output == "client\(index)" { answered += 1 }
                            }
                            return answered
                        }
                    }
                }
                var total = 0
                for try await answered in group { total += answered }
                #expect(total == 200)
            }
        }
    }

    @Test("Status is answered at once while another connection waits on a slow job")
    func statusWhileBusy() async throws {
        try await ServerFixture().run { path in
            let slow = try RawClient(path: path)
            slow.send(#"{"SubmitJob":{"prompt":"slow"}}"# + "\n")
            try await offPool {
                let started = ContinuousClock.now
                let client = try ControlClient(socketPath: path, timeout: .seconds(2))
                #expect(try client.send(.status) == .status(FakeHandler.report))
                #expect(ContinuousClock.now - started < .seconds(2))
            }
            _ = slow
        }
    }

    @Test("a streaming SubmitJob sends Tokens, then the JobResult last")
    func streaming() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let client = try ControlClient(socketPath: path)
                let tokens = Recorder<String>()
                let result = try client.submitJob(SubmitJob(prompt: "one two three", stream: true)) { tokens.append($0) }
                #expect(tokens.all == ["one", "two", "three"])
                #expect(result.output == "onetwothree")
                #expect(try client.send(.ping) == .pong)  // the connection is still usable
            }
        }
    }

    @Test("handler failures become Error responses and the connection goes on")
    func handlerFailures() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let client = try ControlClient(socketPath: path)
                #expect(try client.send(.dumpState) == .error("the backend is not ready"))
                guard case .error(let message) = try client.send(.events(since: 999)) else {
                    Issue.record("expected an Error for a request the handler did not answer")
                    return
                }
                #expect(message.contains("no answer"))
                #expect(try client.send(.ping) == .pong)
            }
        }
    }

    @Test("malformed input gets Error lines and the same connection keeps serving")
    func malformedInput() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let raw = try RawClient(path: path)
                raw.send("garbage\n")
                #expect(raw.readLine()?.hasPrefix(#"{"Error":"not valid JSON"#) == true)
                raw.send([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x6E, 0x75, 0x6C, 0x6C, 0x7D, 0x0A])  // invalid UTF-8 key
                #expect(raw.readLine()?.contains("invalid UTF-8") == true)
                raw.send(#"{"Ping":null,"Status":null}"# + "\n")
                #expect(raw.readLine()?.contains("2 keys") == true)
                raw.send(#"{"Bogus":null}"# + "\n")
                #expect(raw.readLine()?.contains("unknown request") == true)
                raw.send("\n\r\n")  // blank lines are skipped
                raw.send(#"{"Ping": null}"# + "\r\n")
                #expect(raw.readLine() == #"{"Pong":null}"#)
                raw.send(#""Ping""# + "\n")
                #expect(raw.readLine() == #"{"Pong":null}"#)
            }
        }
    }

    @Test("a line over the limit gets 'request too large' and the connection closes; others still work")
    func hugeLine() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let raw = try RawClient(path: path)
                raw.send([UInt8](repeating: UInt8(ascii: "a"), count: 1_100_000))
                let line = raw.readLine()
                #expect(line?.contains("request too large") == true)
                #expect(raw.readLine() == nil)  // closed
                #expect(try ControlClient.send(.ping, socketPath: path) == .pong)
            }
        }
    }

    @Test("a request without a newline before a half-close is still answered")
    func halfClosed() async throws {
        try await ServerFixture().run { path in
            try await offPool {
                let raw = try RawClient(path: path)
                raw.send(#"{"Status":null}"# + "\n" + #"{"Ping":null}"#)
                raw.shutdownWrite()
                #expect(raw.readLine()?.hasPrefix(#"{"Status":{"running":true"#) == true)
                #expect(raw.readLine() == #"{"Pong":null}"#)
                #expect(raw.readLine() == nil)
            }
        }
    }

    @Test("the socket file has mode 0600 and is removed on shutdown")
    func socketFile() async throws {
        let fixture = try ServerFixture()
        try await fixture.run { path in
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.path))
        #expect {
            try ControlClient(socketPath: fixture.path)
        } throws: { ($0 as? ControlClientError)?.code == .notRunning }
    }

    @Test("the socket file is removed when the server's task is cancelled")
    func cancellation() async throws {
        let fixture = try ServerFixture()
        try await fixture.server.bind()
        let task = Task { try await fixture.server.run() }
        #expect(try await offPool { try ControlClient.send(.ping, socketPath: fixture.path) } == .pong)
        task.cancel()
        _ = try? await task.value
        #expect(!FileManager.default.fileExists(atPath: fixture.path))
    }

    @Test("a stale socket left by a dead daemon is replaced")
    func staleSocket() async throws {
        let fixture = try ServerFixture()
        let stale = try StaleSocket(path: fixture.path)
        #expect(FileManager.default.fileExists(atPath: fixture.path))
        try await fixture.run { path async throws in
            #expect(try await offPool { try ControlClient.send(.ping, socketPath: path) } == .pong)
        }
        _ = stale
    }

    @Test("a live daemon's socket is refused with a clear error and left alone")
    func liveSocket() async throws {
        let first = try ServerFixture()
        try await first.run { path async throws in
            let second = ControlServer(socketPath: path, handler: FakeHandler(), logger: quietLogger)
            await #expect {
                try await second.bind()
            } throws: { error in
                guard let error = error as? ControlServerError else { return false }
                return error.code == .addressInUse && error.message.contains("another daemon is listening")
            }
            #expect(try await offPool { try ControlClient.send(.ping, socketPath: path) } == .pong)
        }
    }

    @Test("a file that is not a socket is never deleted")
    func notASocket() async throws {
        let home = try TestHome()
        let file = try home.write("precious", to: "control.sock")
        let server = ControlServer(socketPath: file.path(percentEncoded: false), handler: FakeHandler(), logger: quietLogger)
        await #expect {
            try await server.bind()
        } throws: { ($0 as? ControlServerError)?.code == .notASocket }
        #expect(try String(contentsOf: file, encoding: .utf8) == "precious")
    }

    @Test("run() binds by itself when bind() was not called")
    func runBinds() async throws {
        let fixture = try ServerFixture()
        let task = Task { try await fixture.server.run() }
        let answered = await awaitCondition {
            (try? await offPool { try ControlClient.send(.ping, socketPath: fixture.path, timeout: .milliseconds(200)) }) == .pong
        }
        #expect(answered)
        task.cancel()
        _ = try? await task.value
    }
}

/// A socket file bound by nobody listening, as a crashed daemon leaves it.
final class StaleSocket {
    init(path: String) throws {
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let result = withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(descriptor)  // the file stays, nobody listens
        guard result == 0 else { throw POSIXError(.EADDRINUSE) }
    }
}
