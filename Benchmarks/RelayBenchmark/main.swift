// Relay pool benchmark: events/s received, parsed, verified (id + signature) and deduplicated
// from a local relay through pylon's RelayPool.
//
//   relay-bench --relay ws://127.0.0.1:PORT [--count 20000] [--rounds 3] [--author-key HEX | --author HEX]
//
// With --author-key it publishes `count` events once (unless the relay already has them), then in
// each round subscribes to all of them and times the stream from REQ to EOSE. With --author the
// relay already holds the events (the firehose relay). It prints wall-clock events/s and the
// process CPU time per event.
import Foundation
import Logging
import NostrCore
import RelayPool

@main
struct RelayBench {
    static func main() async throws {
        var relay = "ws://127.0.0.1:7777"
        var count = 20_000
        var rounds = 3
        var keyHex: String?
        var authorHex: String?
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let arg = args.next() {
            switch arg {
            case "--relay": relay = args.next() ?? relay
            case "--count": count = args.next().flatMap(Int.init) ?? count
            case "--rounds": rounds = args.next().flatMap(Int.init) ?? rounds
            case "--author-key": keyHex = args.next()
            case "--author": authorHex = args.next()
            default:
                FileHandle.standardError.write(Data("usage: relay-bench --relay URL [--count N] [--rounds N] [--author-key HEX]\n".utf8))
                exit(2)
            }
        }
        let author = try keyHex.map { Keypair(try SecretKey(hex: $0)) } ?? Keypair.generate()
        var logger = Logger(label: "pylon.relay.bench")
        logger.logLevel = .error
        var configuration = RelayPool.Configuration(relays: [try RelayURL(relay)])
        configuration.dedupeCapacity = count * 2
        let pool = RelayPool(configuration: configuration, keypair: author, logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            defer { group.cancelAll() }
            let deadline = ContinuousClock.now + .seconds(10)
            while pool.connectedCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            guard pool.connectedCount > 0 else {
                print("relay-bench: cannot connect to \(relay)")
                exit(1)
            }
            let readAuthor = try authorHex.map { try PublicKey(hex: $0) } ?? author.publicKey
            let filter = Filter(authors: [readAuthor], limit: count)
            let existing = authorHex == nil ? await pool.fetch([filter], timeout: .seconds(30)).count : count
            if existing < count {
                let base = Int64(Date().timeIntervalSince1970) - Int64(count)
                print("relay-bench: publishing \(count - existing) events to \(relay) …")
                await withTaskGroup(of: Void.self) { publishers in
                    var next = existing
                    func add() {
                        guard next < count else { return }
                        let event = UnsignedEvent(
                            pubkey: author.publicKey, createdAt: base + Int64(next), kind: 1,
                            tags: [["t", "bench"], ["p", author.publicKey.hex]], content: "benchmark event \(next): the quick brown fox jumps over the lazy dog"
                        ).sign(with: author)
                        next += 1
                        publishers.addTask { _ = await pool.publish(event, timeout: .seconds(60)) }
                    }
                    for _ in 0..<200 { add() }
                    while await publishers.next() != nil { add() }
                }
            }
            print("relay-bench: \(count) stored events, \(rounds) rounds, relay \(relay)")
            var rates: [Double] = []
            var cpuPerEvent: [Double] = []
            for round in 1...rounds {
                let cpuStart = cpuSeconds()
                let start = ContinuousClock.now
                let subscription = pool.subscribe([filter])
                var received = 0
                for await item in subscription.events {
                    if case .event = item { received += 1 }
                    if case .endOfStoredEvents = item { break }
                }
                let elapsed = ContinuousClock.now - start
                let cpu = cpuSeconds() - cpuStart
                subscription.close()
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = Double(received) / seconds
                rates.append(rate)
                cpuPerEvent.append(cpu / Double(max(received, 1)) * 1e6)
                print(String(format: "  round %d: %d events in %.3f s = %.0f events/s; pylon CPU %.1f µs/event", round, received, seconds, rate, cpu / Double(max(received, 1)) * 1e6))
            }
            let median = rates.sorted()[rates.count / 2]
            let cpuMedian = cpuPerEvent.sorted()[cpuPerEvent.count / 2]
            print(String(format: "pylon RelayPool: %.0f events/s received and verified (median of %d); %.1f µs CPU per event (target ≥ 10,000/s)", median, rounds, cpuMedian))
            let stats = pool.statistics
            print("  rejected: \(stats.rejected.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: " "))")
        }
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
