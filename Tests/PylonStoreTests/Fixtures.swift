import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonTestSupport
import Synchronization
import Testing

@testable import PylonStore

/// A clock the test moves by hand. 2026-11-29T15:00:00.000Z unless told otherwise.
final class TestClock: Sendable {
    static let start = Date(timeIntervalSince1970: 1_795_964_400)
    private let current: Mutex<Date>

    init(_ start: Date = TestClock.start) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(_ seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    func set(_ date: Date) {
        current.withLock { $0 = date }
    }

    var function: @Sendable () -> Date { { [self] in now } }
}

/// A counter shared between tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

/// A store on a file in a fresh temporary home, with a manual clock.
struct Fixture {
    let home: TestHome
    let clock: TestClock
    let path: String
    let store: PylonStore

    init(clock: TestClock = TestClock()) throws {
        home = try TestHome()
        self.clock = clock
        path = home.file("pylon.db").path(percentEncoded: false)
        store = try PylonStore.open(path: path, clock: clock.function)
    }

    /// Another store on the same file.
    func reopen() throws -> PylonStore {
        try PylonStore.open(path: path, clock: clock.function)
    }
}

let customer = Keypair.generate()
let provider = Keypair.generate()

/// A signed NIP-90 request (kind 5050 unless told otherwise).
func request(_ prompt: String = "Say hello", kind: Kind = 5050, createdAt: Int64 = 1_795_964_390) -> Event {
    UnsignedEvent(
        pubkey: customer.publicKey, createdAt: createdAt, kind: kind,
        tags: [["i", prompt, "text"], ["param", "model", "llama3.2"], ["relays", "wss://relay.example.com"]], content: ""
    ).sign(with: customer)
}

func newJob(_ event: Event, price: Int64 = 0, bid: Int64? = nil, receivedAt: Date = TestClock.start.addingTimeInterval(-0.25)) -> NewJob {
    NewJob(
        request: event, requestedModel: "llama3.2", input: "Say hello", inputBytes: 9,
        params: .object([.init("model", .string("llama3.2")), .init("max_tokens", .integer(64))]), bidMsats: bid, priceMsats: price,
        encrypted: false, relays: ["wss://relay.example.com"], priority: price > 0 ? 1 : 0, receivedAt: receivedAt)
}

/// A made-up event id for results: 32 bytes of `n`.
func resultID(_ n: UInt8) -> EventID {
    EventID(Bytes32(unsafeUninitializedCapacity: { buffer in
        for i in 0..<32 { buffer[i] = n }
    }))
}

/// A made-up payment hash: 64 hex digits.
func paymentHash(_ n: Int) -> String {
    let digits = String(n, radix: 16)
    return String(repeating: "0", count: 64 - digits.count) + digits
}

/// The store's error from `body`, or nil when it did not throw one.
func storeError(_ body: () throws -> Void) -> PylonStoreError? {
    do {
        try body()
        return nil
    } catch {
        return error as? PylonStoreError
    }
}

/// The journal and every table the journal records: what a failed call must leave unchanged.
struct Everything: Equatable {
    var journal: [JournalRecord]
    var snapshot: StoreSnapshot

    init(_ store: PylonStore) throws {
        journal = try store.journal()
        snapshot = try store.snapshot()
    }
}

/// Runs raw SQL on the store's own connection, for checks beneath the API.
func raw<T>(_ store: PylonStore, _ body: (Database) throws -> T) throws -> T {
    try store.writer.writeWithoutTransaction(body)
}
