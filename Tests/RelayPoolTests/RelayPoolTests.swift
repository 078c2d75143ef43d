import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import NostrCore
import PylonTestSupport
import RelayPool
import ServiceLifecycle
import Testing

/// A pool running in the background for one test; cancelled and awaited at the end.
struct RunningPool: Sendable {
    let pool: RelayPool

    static func with<R>(
        _ urls: [String], keypair: Keypair? = .generate(), configure: (inout RelayPool.Configuration) -> Void = { _ in },
        _ body: (RelayPool) async throws -> R
    ) async throws -> R {
        var configuration = RelayPool.Configuration(relays: try urls.map { try RelayURL($0) })
        configuration.initialBackoff = .milliseconds(100)
        configuration.maximumBackoff = .seconds(1)
        configure(&configuration)
        var logger = Logger(label: "pylon.relay.test") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["PYLON_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let pool = RelayPool(configuration: configuration, keypair: keypair, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            defer { group.cancelAll() }
            let result = try await body(pool)
            return result
        }
    }
}

extension RelayPool {
    /// Waits until `count` relays are connected.
    func mustConnect(_ count: Int? = nil, timeout: Duration = .seconds(15)) async throws {
        let wanted = count ?? relays.count
        let ok = await awaitCondition(timeout: timeout) { self.connectedCount >= wanted }
        try #require(ok, "relays did not connect: \(statuses.map { "\($0.url) \($0.state) \($0.lastError ?? "")" })")
    }
}

/// Collects a subscription's events until a condition holds or a deadline passes.
func collect(
    _ subscription: PoolSubscription, timeout: Duration = .seconds(20), until done: @escaping @Sendable ([Event], Set<RelayURL>) -> Bool
) async -> (events: [Event], eose: Set<RelayURL>) {
    await withTaskGroup(of: ([Event], Set<RelayURL>)?.self) { group in
        group.addTask {
            var events: [Event] = []
            var eose = Set<RelayURL>()
            if done(events, eose) { return (events, eose) }
            for await item in subscription.events {
                switch item {
                case .event(let event, _): events.append(event)
                case .endOfStoredEvents(let relay): eose.insert(relay)
                case .closed: break
                }
                if done(events, eose) { return (events, eose) }
            }
            return (events, eose)
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        subscription.close()
        return first ?? ([], [])
    }
}

@Suite("Relay pool against real relays", .serialized)
struct RelayPoolTests {
    @Test("publish and receive", arguments: RelayProcess.Implementation.real)
    func publishAndReceive(implementation: RelayProcess.Implementation) async throws {
        let relay = try await RelayProcess.start(implementation)
        let author = Keypair.generate()
        try await RunningPool.with([relay.url]) { reader in
            try await reader.mustConnect()
            let subscription = reader.subscribe([Filter(authors: [author.publicKey], kinds: [1])])
            try await RunningPool.with([relay.url]) { writer in
                try await writer.mustConnect()
                // When three events are published
                var published: [Event] = []
                for i in 0..<3 {
                    let event = TestEvents.note(author, "note \(i) https://example.com/\(i)")
                    let report = await writer.publish(event)
                    #expect(report.succeeded, "\(report.failureSummary)")
                    #expect(report.acceptedBy == [try RelayURL(relay.url)])
                    published.append(event)
                }
                // Then the reader receives each of them, verified and byte-exact
                let result = await collect(subscription) { events, _ in events.count >= 3 }
                #expect(Set(result.events.map(\.id)) == Set(published.map(\.id)))
                #expect(result.events.allSatisfy { $0.hasValidSignature })
            }
        }
    }

    @Test("the same event through two relays is delivered once")
    func deduplicatedAcrossRelays() async throws {
        let first = try await RelayProcess.start(.nostrRelay)
        let second = try await RelayProcess.start(.rustNostr)
        let author = Keypair.generate()
        let event = TestEvents.note(author, "everywhere")
        try await RunningPool.with([first.url, second.url]) { pool in
            try await pool.mustConnect(2)
            // Given the event stored on both relays
            let report = await pool.publish(event)
            #expect(report.acceptedBy.count == 2, "\(report.failureSummary)")
            // When a subscription fetches it from both
            let subscription = pool.subscribe([Filter(authors: [author.publicKey])])
            let result = await collect(subscription) { _, eose in eose.count == 2 }
            // Then both relays finished their stored events and it arrived exactly once
            #expect(result.eose.count == 2)
            #expect(result.events.map(\.id) == [event.id])
            #expect(pool.statistics.rejected[.duplicate, default: 0] >= 1)
        }
    }

    @Test("forged events from a raw client are rejected, valid ones pass")
    func forgedRejected() async throws {
        // A relay that stores without checking signatures, so the forgery reaches pylon.
        let relay = try await RelayProcess.start(.nostrRelay, options: .init(verifySignatures: false))
        let author = Keypair.generate()
        let valid = TestEvents.note(author, "valid")
        let other = TestEvents.note(author, "other")
        // A good id with someone else's signature, and a good signature with a changed content.
        let badSignature = Event(
            id: valid.id, pubkey: valid.pubkey, createdAt: valid.createdAt, kind: valid.kind, tags: valid.tags, content: valid.content,
            sig: other.sig)
        let badID = Event(
            id: other.id, pubkey: other.pubkey, createdAt: other.createdAt, kind: other.kind, tags: other.tags, content: "changed",
            sig: other.sig)
        let lines = [badSignature, badID].map { ClientMessage.event($0).jsonString }.joined(separator: "\n")
        let answers = try PythonPeers.run(script: "raw_client.py", arguments: [relay.url, "1"], input: Data(lines.utf8))
        #expect(String(decoding: answers, as: UTF8.self).contains("\"OK\""))

        try await RunningPool.with([relay.url]) { pool in
            try await pool.mustConnect()
            let subscription = pool.subscribe([Filter(authors: [author.publicKey])])
            let result = await collect(subscription) { _, eose in eose.count == 1 }
            #expect(result.events.isEmpty)
            #expect(pool.statistics.rejected[.invalidSignature, default: 0] == 1)
            #expect(pool.statistics.rejected[.invalidID, default: 0] == 1)
            // The forged copy squats the id of `valid` on this relay, so a genuine event with
            // another id shows that real events still come through.
            let genuine = TestEvents.note(author, "genuine")
            #expect(await pool.publish(genuine).succeeded)
            let again = pool.subscribe([Filter(authors: [author.publicKey])])
            let good = await collect(again) { events, _ in !events.isEmpty }
            #expect(good.events.map(\.id) == [genuine.id])
        }
    }

    @Test("a relay killed and restarted on the same port: reconnect, resubscribe, nothing missed", arguments: RelayProcess.Implementation.real)
    func reconnectAndResubscribe(implementation: RelayProcess.Implementation) async throws {
        let relay = try await RelayProcess.start(implementation)
        let author = Keypair.generate()
        try await RunningPool.with([relay.url], configure: { $0.initialBackoff = .seconds(6); $0.maximumBackoff = .seconds(6) }) { reader in
            try await reader.mustConnect()
            let subscription = reader.subscribe([Filter(authors: [author.publicKey], since: TestEvents.now - 5)])
            let before = TestEvents.note(author, "before")
            try await RunningPool.with([relay.url]) { writer in
                try await writer.mustConnect()
                #expect(await writer.publish(before).succeeded)
            }
            // Wait for the first event, then kill the relay.
            var iterator = subscription.events.makeAsyncIterator()
            var seen: Set<EventID> = []
            while seen.isEmpty, let item = await iterator.next() {
                if case .event(let event, _) = item { seen.insert(event.id) }
            }
            relay.kill()
            let url = try RelayURL(relay.url)
            #expect(await awaitCondition(timeout: .seconds(10)) { reader.statuses.first?.state != .connected })
            try await relay.start()
            // Events published while the reader is disconnected (it backs off for 3-6 s).
            var during: [Event] = []
            try await RunningPool.with([relay.url]) { writer in
                try await writer.mustConnect()
                #expect(reader.statuses.first?.state != .connected, "the reader reconnected before the test could publish")
                for i in 0..<5 {
                    let event = TestEvents.note(author, "while away \(i)")
                    #expect(await writer.publish(event).succeeded)
                    during.append(event)
                }
            }
            // Then the reader reconnects by itself and receives all of them.
            try await reader.mustConnect()
            let deadline = ContinuousClock.now + .seconds(20)
            while !seen.isSuperset(of: during.map(\.id)), ContinuousClock.now < deadline, let item = await iterator.next() {
                if case .event(let event, _) = item { seen.insert(event.id) }
            }
            #expect(seen.isSuperset(of: during.map(\.id)))
            #expect(reader.statuses.first?.url == url)
            subscription.close()
        }
    }

    @Test("NIP-42: authenticates to rust-nostr's relay in auth mode, then reads and writes")
    func authentication() async throws {
        let relay = try await RelayProcess.start(.rustNostr, options: .init(nip42: "both"))
        let identity = Keypair.generate()
        try await RunningPool.with([relay.url], keypair: identity) { pool in
            try await pool.mustConnect()
            let event = TestEvents.note(identity, "authenticated")
            let report = await pool.publish(event, timeout: .seconds(15))
            #expect(report.succeeded, "\(report.failureSummary)")
            let fetched = await pool.fetch([Filter(ids: [event.id])], timeout: .seconds(10))
            #expect(fetched.map(\.id) == [event.id])
        }
        // Without an identity the relay's demand cannot be met, and the publish says so.
        try await RunningPool.with([relay.url], keypair: nil) { pool in
            try await pool.mustConnect()
            let report = await pool.publish(TestEvents.note(identity, "anonymous"), timeout: .seconds(3))
            #expect(!report.succeeded)
        }
    }

    @Test("a rate-limiting relay does not lose events: backoff and retry")
    func rateLimited() async throws {
        let relay = try await RelayProcess.start(.nostrRelay, options: .init(eventRateLimit: "4/s"))
        let author = Keypair.generate()
        try await RunningPool.with([relay.url], configure: { $0.rateLimitBackoff = .milliseconds(600) }) { pool in
            try await pool.mustConnect()
            let events = (0..<12).map { TestEvents.note(author, "burst \($0)") }
            let reports = await withTaskGroup(of: PublishReport.self) { group in
                for event in events { group.addTask { await pool.publish(event, timeout: .seconds(30)) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(reports.allSatisfy { $0.succeeded }, "\(reports.filter { !$0.succeeded }.map(\.failureSummary))")
            let stored = await pool.fetch([Filter(authors: [author.publicKey])], timeout: .seconds(10))
            #expect(Set(stored.map(\.id)) == Set(events.map(\.id)))
        }
    }

    @Test("stored events arrive in the relay's order, whether checked in place (alone) or on other threads (a burst)")
    func deliveryOrder() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let author = Keypair.generate()
        let base = Int64(Date().timeIntervalSince1970) - 1000
        // Distinct created_at: the relay sends stored events newest first.
        let events = (0..<300).map { TestEvents.note(author, "ordered \($0)", createdAt: base + Int64($0)) }
        try await RunningPool.with([relay.url]) { pool in
            try await pool.mustConnect()
            for event in events { #expect(await pool.publish(event).succeeded) }
            // One event alone first (checked in place), then the stored burst.
            let single = pool.subscribe([Filter(ids: [events[0].id])])
            #expect(await collect(single) { _, eose in !eose.isEmpty }.events.map(\.id) == [events[0].id])
            let all = pool.subscribe([Filter(authors: [author.publicKey])])
            let result = await collect(all) { _, eose in !eose.isEmpty }
            #expect(result.events.map(\.id) == events.reversed().map(\.id))
        }
    }

    @Test("10,000 events stream through with none lost")
    func tenThousand() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        let author = Keypair.generate()
        let total = 10_000
        let events = (0..<total).map { TestEvents.note(author, "stream \($0)") }
        try await RunningPool.with([relay.url]) { reader in
            try await reader.mustConnect()
            let subscription = reader.subscribe([Filter(authors: [author.publicKey])])
            try await RunningPool.with([relay.url]) { writer in
                try await writer.mustConnect()
                async let received = collect(subscription, timeout: .seconds(120)) { events, _ in events.count >= total }
                // Publish with a bounded number in flight.
                await withTaskGroup(of: PublishReport.self) { group in
                    var next = 0
                    for _ in 0..<200 where next < total {
                        let event = events[next]
                        next += 1
                        group.addTask { await writer.publish(event, timeout: .seconds(60)) }
                    }
                    while let report = await group.next() {
                        #expect(report.succeeded, "\(report.failureSummary)")
                        if next < total {
                            let event = events[next]
                            next += 1
                            group.addTask { await writer.publish(event, timeout: .seconds(60)) }
                        }
                    }
                }
                let result = await received
                #expect(result.events.count == total)
                #expect(Set(result.events.map(\.id)) == Set(events.map(\.id)))
            }
        }
    }

    @Test("NIP-11 limits: an oversized event is refused before sending; limits show in status")
    func informationLimits() async throws {
        let port = try FreePort.next()
        let peer = try PeerProcess(script: "limits_relay.py", arguments: ["--port", String(port)])
        #expect(peer.firstLine == "ws://127.0.0.1:\(port)")
        let author = Keypair.generate()
        try await RunningPool.with([peer.firstLine]) { pool in
            try await pool.mustConnect()
            // The document is fetched beside the handshake: it may land just after `connected`.
            #expect(await awaitCondition(timeout: .seconds(5)) { pool.statuses.first?.limits.maxMessageLength == 2000 })
            // A small event goes through
            #expect(await pool.publish(TestEvents.note(author, "small")).succeeded)
            // An event over max_message_length, and one over max_event_tags, are refused locally
            let big = TestEvents.note(author, String(repeating: "x", count: 3000))
            let bigReport = await pool.publish(big)
            #expect(!bigReport.succeeded)
            #expect(bigReport.failureSummary.contains("max_message_length"))
            let tagged = TestEvents.note(author, "tags", tags: (0..<6).map { ["t", "tag\($0)"] })
            #expect(await pool.publish(tagged).failureSummary.contains("tags"))
            // The relay never saw either of them
            let received = try await httpGet("http://127.0.0.1:\(port)/received")
            #expect(!received.contains(big.id.hex))
            #expect(!received.contains(tagged.id.hex))
            #expect(received.contains("small"))
        }
    }

    @Test("a relay that drops every connection after a while gets one quick reconnect per drop, not ever longer outages")
    func backoffResetsAfterAStableConnection() async throws {
        // Each connection lives 0.6 s, longer than `stableAfter`, so every reconnect starts again
        // from the initial backoff (0.1-0.2 s with jitter): each gap between connections stays
        // near 0.7-0.8 s. Without the reset the delays double (0.2, 0.4, 0.8, 1.6 s at most,
        // half that at least) and the fifth gap alone is over 1.4 s.
        let port = try FreePort.next()
        let peer = try PeerProcess(script: "limits_relay.py", arguments: ["--port", String(port), "--drop-after", "0.6"])
        try await RunningPool.with([peer.firstLine], configure: {
            $0.initialBackoff = .milliseconds(200)
            $0.maximumBackoff = .seconds(10)
            $0.stableAfter = .milliseconds(400)
        }) { pool in
            try await pool.mustConnect()
            let enough = await awaitCondition(timeout: .seconds(15), interval: .milliseconds(200)) {
                ((try? await Self.connectionTimes(port)) ?? []).count >= 7
            }
            let times = try await Self.connectionTimes(port)
            #expect(enough, "connections opened at \(times)")
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.count >= 6)
            #expect(gaps.allSatisfy { $0 < 1.3 }, "gaps between connections: \(gaps)")
        }
    }

    static func connectionTimes(_ port: Int) async throws -> [Double] {
        let text = try await httpGet("http://127.0.0.1:\(port)/connections")
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Double]) ?? []
    }

    @Test("a pool stops promptly")
    func shutdownTime() async throws {
        let clock = ContinuousClock()
        let relay = try await RelayProcess.start(.rustNostr)
        var connected = clock.now
        let start = clock.now
        try await RunningPool.with([relay.url]) { pool in
            try await pool.mustConnect()
            connected = clock.now
        }
        let stopped = clock.now
        #expect(stopped - connected < .seconds(3), "connect \(connected - start), stop \(stopped - connected)")
        // The relay process honours SIGTERM (its signal mask was cleared at launch).
        let stopping = clock.now
        relay.stop()
        #expect(clock.now - stopping < .seconds(2))
    }

    @Test("status shows each relay's state and last error; a dead relay backs off")
    func status() async throws {
        let deadPort = try FreePort.next()
        let relay = try await RelayProcess.start(.rustNostr)
        try await RunningPool.with([relay.url, "ws://127.0.0.1:\(deadPort)"]) { pool in
            try await pool.mustConnect(1)
            let ok = await awaitCondition(timeout: .seconds(10)) {
                pool.statuses.contains { $0.state == .backingOff && $0.lastError != nil }
            }
            #expect(ok)
            let statuses = pool.statuses
            #expect(statuses.count == 2)
            #expect(statuses.first { $0.url.string == relay.url }?.state == .connected)
            // Publishing still succeeds through the live relay.
            let report = await pool.publish(TestEvents.note(.generate()), timeout: .seconds(2))
            #expect(report.succeeded)
            #expect(report.outcomes.count == 2)
            // So does publishing without waiting: the report comes when the live relay answered
            // and the dead one's time ran out, or at once on the first acceptance.
            let started = ContinuousClock.now
            let all = await withCheckedContinuation { continuation in
                pool.publish(TestEvents.note(.generate()), timeout: .milliseconds(800)) { continuation.resume(returning: $0) }
            }
            #expect(ContinuousClock.now - started >= .milliseconds(800))
            #expect(all.outcomes.count == 2 && all.acceptedBy.map(\.string) == [relay.url])
            #expect(all.outcomes.values.contains(.timedOut))
            let first = await withCheckedContinuation { continuation in
                pool.publish(TestEvents.note(.generate()), timeout: .seconds(30), waitForAll: false) { continuation.resume(returning: $0) }
            }
            #expect(first.succeeded && first.outcomes.count == 2, "\(first.failureSummary)")
        }
    }
}

func httpGet(_ url: String) async throws -> String {
    let (data, _) = try await URLSession.shared.data(from: try #require(URL(string: url)))
    return String(decoding: data, as: UTF8.self)
}
