import Foundation
import NostrCore
import PylonTestSupport
import RelayPool
import Synchronization
import Testing

/// The WebSocket under the relay pool, against a server that misbehaves on purpose
/// (Tests/Peers/odd_relay.py): the closing handshake, pings both ways, fragments, and every way a
/// connection can fail, each reported in the relay's status.
@Suite("Relay socket: the WebSocket protocol, against a server that misbehaves", .serialized)
struct RelaySocketTests {
    struct Log: Decodable {
        let pongs: [String]
        let closes: [[JSONScalar]]
        let texts: [String]
        let pings: Int
        let acks: [Ack]
        let upgrades: Int
    }

    struct Ack: Decodable {
        let id: String
        let ms: Double
    }

    enum JSONScalar: Decodable, Equatable {
        case int(Int)
        case string(String)
        case null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let int = try? container.decode(Int.self) {
                self = .int(int)
            } else {
                self = .string(try container.decode(String.self))
            }
        }
    }

    static func startServer(tls: Bool = false) throws -> (PeerProcess, String) {
        let port = try FreePort.next()
        let peer = try PeerProcess(script: "odd_relay.py", arguments: ["--port", String(port)] + (tls ? ["--tls"] : []))
        return (peer, peer.firstLine)
    }

    static func log(_ base: String) async throws -> Log {
        let text = try await httpGet(base.replacingOccurrences(of: "ws://", with: "http://") + "/log")
        return try JSONDecoder().decode(Log.self, from: Data(text.utf8))
    }

    /// Whether the server got our close frame (1000 "bye").
    static func saidGoodbye(_ base: String) async -> Bool {
        guard let log = try? await Self.log(base) else { return false }
        return log.closes.contains([.int(1000), .string("bye")])
    }

    /// Runs a pool on `path` of the server until its relay reports an error containing `expected`.
    static func expectFailure(
        _ path: String, _ expected: String, tls: Bool = false, configure: @escaping (inout RelayPool.Configuration) -> Void = { _ in }
    ) async throws {
        let (peer, base) = try Self.startServer(tls: tls)
        defer { withExtendedLifetime(peer) {} }
        try await RunningPool.with([base + path], configure: configure) { pool in
            let failed = await awaitCondition(timeout: .seconds(10)) {
                pool.statuses.first?.lastError?.contains(expected) == true
            }
            #expect(failed, "\(path): \(pool.statuses.first?.lastError ?? "no error")")
        }
    }

    @Test("a message in three fragments is one message; the server's ping is answered with its payload; our pings are answered")
    func fragmentsAndPings() async throws {
        let (peer, base) = try Self.startServer()
        defer { withExtendedLifetime(peer) {} }
        try await RunningPool.with([base + "/fragments"], configure: { $0.pingInterval = .milliseconds(200) }) { pool in
            try await pool.mustConnect()
            let subscription = pool.subscribe([Filter(kinds: [1])])
            let result = await collect(subscription, timeout: .seconds(5)) { _, eose in !eose.isEmpty }
            #expect(result.eose.map(\.string) == [base + "/fragments"])
            // Five ping intervals later the connection is still the first one.
            try await Task.sleep(for: .milliseconds(1000))
            #expect(pool.statuses.first?.state == .connected)
            let log = try await Self.log(base)
            #expect(log.pongs == ["hello"])
            #expect(log.pings >= 3)
            #expect(log.texts.contains { $0.hasPrefix("[\"REQ\"") })
        }
    }

    @Test("a relay's close frame is answered with its code and shown in status; a removed relay gets a close frame")
    func closingHandshake() async throws {
        let (peer, base) = try Self.startServer()
        defer { withExtendedLifetime(peer) {} }
        try await RunningPool.with([base + "/close"]) { pool in
            let closed = await awaitCondition(timeout: .seconds(10)) {
                pool.statuses.first?.lastError == "closed by relay (4001: maintenance)"
            }
            #expect(closed, "\(pool.statuses.first?.lastError ?? "no error")")
            let log = try await Self.log(base)
            #expect(log.closes.first == [.int(4001), .string("")])
        }
        try await RunningPool.with([base + "/fragments"]) { pool in
            try await pool.mustConnect()
            await pool.update(relays: [])
            let log = try await Self.log(base)
            #expect(log.closes.contains([.int(1000), .string("bye")]))
        }
    }

    @Test("a relay that never answers pings is dropped after one interval")
    func unansweredPing() async throws {
        try await Self.expectFailure("/deaf", "websocket: no answer to a ping within") { $0.pingInterval = .milliseconds(300) }
    }

    @Test("a message over the size limit ends the connection")
    func oversizedMessage() async throws {
        try await Self.expectFailure("/big", "websocket: the relay sent a message larger than 4096 bytes") { $0.maxMessageSize = 4096 }
    }

    @Test("a text message that is not UTF-8 ends the connection")
    func invalidText() async throws {
        try await Self.expectFailure("/bad-utf8", "websocket: the relay sent a text message that is not UTF-8")
    }

    @Test("a server that refuses the upgrade, and one that never answers it")
    func failedHandshakes() async throws {
        try await Self.expectFailure("/refuse", "websocket: the server did not accept the WebSocket upgrade")
        try await Self.expectFailure("/mute", "websocket: no WebSocket handshake within 0.5 seconds") { $0.connectTimeout = .milliseconds(500) }
    }

    @Test("wss:// speaks TLS and checks the certificate: a self-signed one is refused")
    func tlsCertificateChecked() async throws {
        try await Self.expectFailure("/fragments", "TLS certificate rejected", tls: true)
    }

    /// The stall of issue 21: a connection that answers what it reads (a provider's feedback, a
    /// buyer's next request) is interactive to the kernel, which then delays its ACK of the relay's
    /// next message, the OK to that answer, by up to 40 ms; a relay that writes without
    /// TCP_NODELAY holds its next small message to us until the ACK comes. The second publish of
    /// each pair goes out right after the OK to the first, as a provider answers a request; the
    /// relay measures how long its OK to that second one waits for our ACK.
    @Test("the relay's OK to an answer is acknowledged at once, not after the kernel's 40 ms delayed ACK")
    func acknowledgedAtOnce() async throws {
        #if os(Linux)
            let (peer, base) = try Self.startServer()
            defer { withExtendedLifetime(peer) {} }
            let keypair = Keypair.generate()
            try await RunningPool.with([base + "/acks"]) { pool in
                try await pool.mustConnect()
                var answers: [EventID] = []
                for round in 0..<8 {
                    let first = TestEvents.note(keypair, "request \(round)")
                    let answer = TestEvents.note(keypair, "answer \(round)")
                    #expect(await pool.publish(first).succeeded)
                    #expect(await pool.publish(answer).succeeded)
                    answers.append(answer.id)
                    // The relay's measurement of this round is in before the next round begins.
                    let measured = await awaitCondition(timeout: .seconds(5)) {
                        (try? await Self.log(base))?.acks.contains { $0.id == answer.id.hex } == true
                    }
                    try #require(measured, "the relay did not measure the ACK of its OK to round \(round)")
                }
                let acks = try await Self.log(base).acks
                let delays = answers.compactMap { id in acks.first { $0.id == id.hex }?.ms }.sorted()
                #expect(delays.count == answers.count)
                // Without TCP_QUICKACK every one of these waits for the delayed-ACK timer (40 ms
                // or more); with it, the ACK leaves as soon as the event loop has read the OK.
                #expect(delays[delays.count / 2] < 20, "ACK delays of the relay's OKs, in ms: \(delays)")
                #expect(delays.filter { $0 >= 35 }.count <= 1, "ACK delays of the relay's OKs, in ms: \(delays)")
            }
        #endif
    }

    /// A removed relay must answer what it still held: the provider waits for every publish's
    /// report before it stops, and a report that never came kept a daemon from stopping at all.
    @Test("events waiting for a relay that is then removed get their report at once: rejected, not lost")
    func removedRelayAnswersItsQueue() async throws {
        let (peer, base) = try Self.startServer()
        defer { withExtendedLifetime(peer) {} }
        let keypair = Keypair.generate()
        // /mute takes the connection and never answers the handshake: events wait in the queue.
        try await RunningPool.with([base + "/mute"], configure: { $0.connectTimeout = .seconds(4) }) { pool in
            #expect(await awaitCondition(timeout: .seconds(5)) { pool.statuses.first?.state == .connecting })
            // Queued now (the completion form queues before it returns), answered later.
            let reports = Mutex<[PublishReport]>([])
            for index in 0..<3 {
                pool.publish(TestEvents.note(keypair, "waiting \(index)"), timeout: .seconds(60)) { report in
                    reports.withLock { $0.append(report) }
                }
            }
            let started = ContinuousClock.now
            await pool.update(relays: [])
            #expect(await awaitCondition(timeout: .seconds(20)) { reports.withLock { $0.count } == 3 })
            let answered = reports.withLock { $0 }
            #expect(answered.count == 3)
            #expect(answered.allSatisfy { report in
                report.outcomes.count == 1
                    && report.outcomes.values.allSatisfy { if case .rejected(let reason) = $0 { reason.contains("stopped before it answered") } else { false } }
            }, "\(answered.map(\.failureSummary))")
            // At once: not at the 60 s deadline, nor when the 4 s handshake timeout ends the attempt.
            #expect(ContinuousClock.now - started < .seconds(2), "reported after \(ContinuousClock.now - started)")
        }
    }

    /// A relay removed while its handshake was under way used to connect afterwards and stay
    /// connected for good: nothing closed the new socket, and the pool waited for it at shutdown.
    @Test("a relay removed during its handshake closes the socket it gets; the pool still stops")
    func removedDuringHandshake() async throws {
        let (peer, base) = try Self.startServer()
        defer { withExtendedLifetime(peer) {} }
        try await RunningPool.with([base + "/slow"]) { pool in
            // The server has the handshake and sits on it for 0.5 s.
            var handshaking = false
            for _ in 0..<50 where !handshaking {
                handshaking = (try? await Self.log(base))?.upgrades == 1
                if !handshaking { try await Task.sleep(for: .milliseconds(20)) }
            }
            try #require(handshaking, "the pool never began the handshake")
            await pool.update(relays: [])
            // The handshake completes 0.5 s later; the connection says goodbye at once.
            var closed = false
            for _ in 0..<50 where !closed {
                closed = await Self.saidGoodbye(base)
                if !closed { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(closed, "the late socket was left open")
            #expect(pool.connectedCount == 0)
        }
        // RunningPool.with returning means the pool's run ended: no connection task was left.
    }
}
