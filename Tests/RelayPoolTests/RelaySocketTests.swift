import Foundation
import NostrCore
import PylonTestSupport
import RelayPool
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
}
