import Foundation
import NostrCore
@testable import Provider
import PylonStore
import PylonTestSupport
import Testing

/// The provider's job lifecycle as one state machine (SPEC §8): which moves it allows, that a
/// final phase is final, and that two paths racing for one job cannot both win.
@Suite("provider mode: the job lifecycle")
struct JobLifecycleTests {
    static let customer = Keypair(SecretKey.generate())

    static func request(_ text: String = "hello") -> JobRequest {
        JobRequest(
            event: UnsignedEvent(
                pubkey: customer.publicKey, createdAt: Int64(Date().timeIntervalSince1970), kind: 5050, tags: [["i", text, "text"]], content: ""
            ).sign(with: customer))
    }

    /// A real invoice from BOLT #11's examples (Tests/Vectors/bolt11.json).
    static func invoice(_ index: Int = 0) throws -> BOLT11Invoice {
        let vectors = try #require(try TestPaths.repositoryVectorJSON("bolt11.json") as? [String: Any])
        let valid = try #require(vectors["valid"] as? [[String: Any]])
        return try BOLT11Invoice(try #require(valid[index]["invoice"] as? String))
    }

    @Test("the happy paths: free, free started at admission, priced; each ends final and leaves the table")
    func paths() throws {
        let paths: [[JobPhase]] = [
            [.queued, .running, .answered],
            [.running, .answered],
            [.awaitingPayment, .paid, .queued, .running, .answered],
        ]
        for path in paths {
            var table = JobTable()
            let job = Self.request()
            let admitted = table.insert(job)
            #expect(admitted)
            for phase in path {
                let moved = table.move(job.id.hex, to: phase)
                #expect((try? moved.get())?.phase == phase, "\(path): to \(phase)")
            }
            #expect(table.count == 0, "a final phase leaves the table")
            #expect(table.move(job.id.hex, to: .failed).refusal == .unknown, "nothing moves after the end")
        }
    }

    @Test("no unpaid job runs or is queued; no job is paid twice; a final phase is final")
    func refusals() throws {
        var table = JobTable()
        let job = Self.request()
        let id = job.id.hex
        let admitted = table.insert(job)
        #expect(admitted)
        let again = table.insert(job)
        #expect(!again, "admitted once")
        #expect(table.move(id, to: .awaitingPayment).isSuccess)
        #expect(table.move(id, to: .running).refusal == .notAllowed(from: .awaitingPayment))
        #expect(table.move(id, to: .queued).refusal == .notAllowed(from: .awaitingPayment))
        #expect(table.move(id, to: .answered).refusal == .notAllowed(from: .awaitingPayment))
        #expect(table.move(id, to: .paid).isSuccess)
        #expect(table.move(id, to: .paid).refusal == .notAllowed(from: .paid), "a second settlement does not go through")
        #expect(table.move(id, to: .expired).refusal == .notAllowed(from: .paid), "a paid job does not expire")
        #expect(table.move(id, to: .queued).isSuccess)
        #expect(table.move(id, to: .cancelled).isSuccess)
        #expect(table.entry(id) == nil)
        #expect(table.move(id, to: .running).refusal == .unknown)
    }

    @Test("every pair of phases: a final phase leads nowhere, nothing leads back to received or admitted")
    func transitionTable() {
        for from in JobPhase.allCases {
            for to in JobPhase.allCases {
                if from.isFinal { #expect(!from.allows(to), "\(from) → \(to)") }
                if to == .received || (to == .admitted && from != .received) { #expect(!from.allows(to), "\(from) → \(to)") }
                if to == .paid { #expect(from.allows(to) == (from == .awaitingPayment), "\(from) → \(to)") }
                if to == .running { #expect(from.allows(to) == (from == .admitted || from == .queued), "\(from) → \(to)") }
            }
        }
    }

    @Test("an invoice is followed only while its job awaits payment, checked later and later, never past its expiry")
    func invoices() throws {
        var table = JobTable()
        let job = Self.request()
        let id = job.id.hex
        let invoice = try Self.invoice()
        let hash = invoice.paymentHash.hex
        let now = ContinuousClock.now
        let admitted = table.insert(job)
        #expect(admitted)
        let tooEarly = table.watch(id, invoice: invoice, interval: .seconds(1), now: now)
        #expect(!tooEarly, "not before the job awaits payment")
        #expect(table.move(id, to: .awaitingPayment).isSuccess)
        #expect(table.nextCheck == nil)
        let watched = table.watch(id, invoice: invoice, interval: .seconds(1), now: now)
        #expect(watched)
        #expect(table.awaiting(paymentHash: hash)?.request.id == job.id)
        #expect(table.dueChecks(now: now).isEmpty)
        #expect(table.dueChecks(now: now + .seconds(1)) == [hash])
        table.checkLater(paymentHash: hash, maxInterval: .seconds(3), secondsToExpiry: 100, now: now)
        #expect(table.nextCheck == now + .seconds(2))
        table.checkLater(paymentHash: hash, maxInterval: .seconds(3), secondsToExpiry: 100, now: now)
        #expect(table.nextCheck == now + .seconds(3), "at most the longest interval")
        table.checkLater(paymentHash: hash, maxInterval: .seconds(30), secondsToExpiry: 1, now: now)
        #expect(table.nextCheck == now + .seconds(1), "never past the expiry")
        // Paid: the invoice is no longer followed, and a late notification finds no job.
        #expect(table.move(id, to: .paid).isSuccess)
        #expect(table.awaiting(paymentHash: hash) == nil)
        #expect(table.watchedInvoices == 0 && table.nextCheck == nil)
    }

    @Test("an expired invoice closes its job and is forgotten")
    func expiry() throws {
        var table = JobTable()
        let job = Self.request()
        let invoice = try Self.invoice(1)
        let resumed = table.insert(job, phase: .awaitingPayment)
        #expect(resumed, "as after a restart")
        let watched = table.watch(job.id.hex, invoice: invoice, interval: .seconds(1), now: .now)
        #expect(watched)
        #expect(table.move(job.id.hex, to: .expired).isSuccess)
        #expect(table.count == 0 && table.watchedInvoices == 0)
        #expect(table.awaiting(paymentHash: invoice.paymentHash.hex) == nil)
    }

    @Test("a job the store holds open resumes in its phase; a final one is not taken in")
    func resuming() {
        var table = JobTable()
        #expect(JobPhase(resuming: .awaitingPayment) == .awaitingPayment)
        #expect(JobPhase(resuming: .running) == .running)
        let finished = table.insert(Self.request("done"), phase: JobPhase(resuming: .completed))
        #expect(!finished)
        let running = Self.request("running")
        let resumed = table.insert(running, phase: JobPhase(resuming: .running))
        #expect(resumed)
        #expect(table.move(running.id.hex, to: .queued).isSuccess, "a restart puts an interrupted job back in the queue")
    }

    @Test("two paths racing to settle, expire or cancel one job: exactly one wins")
    func races() async throws {
        for _ in 0..<50 {
            let table = LockedBox(JobTable())
            let job = Self.request()
            table.withLock {
                _ = $0.insert(job)
                _ = $0.move(job.id.hex, to: .awaitingPayment)
            }
            let wins = await withTaskGroup(of: Bool.self) { group in
                for phase in [JobPhase.paid, .paid, .expired, .cancelled] {
                    group.addTask { table.withLock { $0.move(job.id.hex, to: phase).isSuccess } }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }
}

extension Result where Failure == JobTable.Refusal {
    fileprivate var isSuccess: Bool {
        if case .success = self { true } else { false }
    }

    fileprivate var refusal: JobTable.Refusal? {
        if case .failure(let refusal) = self { refusal } else { nil }
    }
}
