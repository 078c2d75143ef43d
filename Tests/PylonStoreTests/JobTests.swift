import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Jobs")
struct JobTests {
    @Test("admit records the seen id, the job and job.admitted with everything a rebuild needs")
    func admit() throws {
        // Given a free request
        let fixture = try Fixture()
        let store = fixture.store
        let event = request()
        #expect(try store.hasProcessed(event.id) == false)
        // When it is admitted
        let entry = try store.admit(newJob(event, bid: 500))
        // Then the id is seen, the job is queued, and the entry says so
        #expect(try store.hasProcessed(event.id))
        #expect(try store.processedRequest(event.id)?.outcome == "admitted")
        let job = try #require(try store.job(id: event.id))
        #expect(job.status == .queued)
        #expect(job.kind == 5050)
        #expect(job.customer == customer.publicKey)
        #expect(job.requestedModel == "llama3.2")
        #expect(job.params["max_tokens"] == .integer(64))
        #expect(job.bidMsats == 500)
        #expect(job.priceMsats == 0)
        #expect(job.relays == ["wss://relay.example.com"])
        #expect(job.arrival == entry.seq)
        #expect(job.admittedAt == TestClock.start)
        #expect(job.receivedAt == TestClock.start.addingTimeInterval(-0.25))
        #expect(try job.requestEvent() == event)
        #expect(job.model == nil && job.startedAt == nil && job.finishedAt == nil)
        #expect(entry.kind == "job.admitted")
        #expect(entry.data["id"] == .string(event.id.hex))
        #expect(entry.data["status"] == .string("queued"))
        #expect(entry.data["customer"] == .string(customer.publicKey.hex))
        #expect(entry.data["received_at"] == .string("2026-11-29T14:59:59.750Z"))
        #expect(entry.data["request"]?.serialized == event.jsonString)
        let journal = try store.journal()
        #expect(journal.map(\.kind) == ["job.received", "job.admitted"], "received and admitted in one transaction")
        #expect(journal.last == entry)
        #expect(journal.first?.data["id"] == .string(event.id.hex))
        #expect(journal.first?.data["created_at"] == .integer(event.createdAt))
    }

    @Test("a priced job waits for payment")
    func pricedAdmit() throws {
        let store = try Fixture().store
        let event = request()
        let entry = try store.admit(newJob(event, price: 2000))
        #expect(try store.job(id: event.id)?.status == .awaitingPayment)
        #expect(entry.data["status"] == .string("awaiting_payment"))
        // And it cannot start unpaid
        #expect(storeError { try store.start(jobID: event.id, model: "m", backend: "b") }?.code == .invalidTransition)
    }

    @Test("start, complete: each transition updates the row and appends its entry")
    func happyPath() throws {
        let fixture = try Fixture()
        let store = fixture.store
        let event = request()
        try store.admit(newJob(event))
        // When it starts
        fixture.clock.advance(0.010)
        let started = try store.start(jobID: event.id, model: "llama3.2:1b", backend: "ollama")
        var job = try #require(try store.job(id: event.id))
        #expect(job.status == .running)
        #expect(job.model == "llama3.2:1b")
        #expect(job.backend == "ollama")
        #expect(job.startedAt == TestClock.start.addingTimeInterval(0.010))
        #expect(started.kind == "job.started")
        #expect(started.data == .object([.init("id", .string(event.id.hex)), .init("model", .string("llama3.2:1b")), .init("backend", .string("ollama"))]))
        // When it completes
        fixture.clock.advance(0.200)
        let completed = try store.complete(
            jobID: event.id,
            JobCompletion(resultEventID: resultID(7), promptTokens: 12, completionTokens: 30, outputBytes: 120, durationMs: 200))
        job = try #require(try store.job(id: event.id))
        #expect(job.status == .completed)
        #expect(job.finishedAt == TestClock.start.addingTimeInterval(0.210))
        #expect(job.resultEventID == resultID(7))
        #expect(job.promptTokens == 12 && job.completionTokens == 30 && job.outputBytes == 120 && job.durationMs == 200)
        #expect(completed.map(\.kind) == ["job.completed"])
        #expect(completed[0].data["result_event_id"] == .string(resultID(7).hex))
        #expect(completed[0].data["duration_ms"] == .integer(200))
        // No earning for a free job
        #expect(try store.earnings(jobID: event.id).isEmpty)
        #expect(try store.statistics().jobsCompleted == 1)
        #expect(try store.journal().map(\.kind) == ["job.received", "job.admitted", "job.started", "job.completed"])
    }

    @Test("a job with a slot free starts as it is admitted: running, job.started after job.admitted, one transaction")
    func admitStarting() throws {
        let fixture = try Fixture()
        let store = fixture.store
        let event = request()
        // When a free job is admitted with its route
        let admitted = try store.admit(newJob(event), startingOn: JobStart(model: "llama3.2:1b", backend: "ollama"))
        // Then it runs on that model from the admission's moment, and the journal says it started
        let job = try #require(try store.job(id: event.id))
        #expect(job.status == .running)
        #expect(job.model == "llama3.2:1b" && job.backend == "ollama")
        #expect(job.startedAt == TestClock.start && job.admittedAt == TestClock.start)
        #expect(admitted.data["status"] == .string("queued"), "admission decided queued; the start follows it")
        let journal = try store.journal()
        #expect(journal.map(\.kind) == ["job.received", "job.admitted", "job.started"])
        #expect(journal.map(\.time) == Array(repeating: TestClock.start, count: 3))
        #expect(journal.last?.data == .object([.init("id", .string(event.id.hex)), .init("model", .string("llama3.2:1b")), .init("backend", .string("ollama"))]))
        // It cannot start twice; it completes as any started job
        #expect(storeError { try store.start(jobID: event.id, model: "m", backend: "b") }?.code == .invalidTransition)
        fixture.clock.advance(0.1)
        try store.complete(jobID: event.id, JobCompletion(resultEventID: resultID(3), durationMs: 100))
        // And the journal alone rebuilds the same state
        #expect(try JournalReplay.rebuild(from: store.journal()) == store.snapshot())
    }

    @Test("a start at admission needs a free job, a model and a backend; a refused one writes nothing")
    func admitStartingRefused() throws {
        let store = try Fixture().store
        let priced = request()
        let error = storeError { try store.admit(newJob(priced, price: 2000), startingOn: JobStart(model: "m", backend: "b")) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("paid") == true)
        let unnamed = request("Say something else")
        #expect(storeError { try store.admit(newJob(unnamed), startingOn: JobStart(model: "", backend: "b")) }?.code == .invalidArgument)
        #expect(try store.hasProcessed(priced.id) == false && store.hasProcessed(unnamed.id) == false)
        #expect(try store.journal().isEmpty)
    }

    @Test("a completion with a payment records the earning and payment.received in the same transaction")
    func completeWithPayment() throws {
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event))
        try store.start(jobID: event.id, model: "m", backend: "b")
        let records = try store.complete(
            jobID: event.id,
            JobCompletion(resultEventID: resultID(1), durationMs: 5, earning: NewEarning(amountMsats: 1000, paymentHash: paymentHash(1))))
        #expect(records.map(\.kind) == ["job.completed", "payment.received"])
        #expect(records[1].seq == records[0].seq + 1)
        let earning = try #require(try store.earnings(jobID: event.id).first)
        #expect(earning.amountMsats == 1000)
        #expect(earning.source == .job)
        #expect(earning.paymentHash == paymentHash(1))
        #expect(records[1].data["earning_id"] == .integer(earning.id))
        #expect(records[1].data["job_status"] == .null)
        #expect(try store.statistics().earningsMsats == 1000)
    }

    @Test("fail and cancel close an open job with the reason and the status it left")
    func failAndCancel() throws {
        let store = try Fixture().store
        let a = request("a")
        let b = request("b")
        let c = request("c")
        for event in [a, b, c] { try store.admit(newJob(event, price: event == c ? 100 : 0)) }
        try store.start(jobID: a.id, model: "m", backend: "b")
        let failed = try store.fail(jobID: a.id, reason: "the backend stopped answering")
        let cancelled = try store.cancel(jobID: b.id, reason: "deleted by the customer")
        let unpaid = try store.cancel(jobID: c.id, reason: "shutdown")
        #expect(failed.data["from"] == .string("running"))
        #expect(cancelled.data["from"] == .string("queued"))
        #expect(unpaid.data["from"] == .string("awaiting_payment"))
        let jobA = try #require(try store.job(id: a.id))
        #expect(jobA.status == .failed)
        #expect(jobA.error == "the backend stopped answering")
        #expect(jobA.finishedAt != nil)
        #expect(try store.job(id: b.id)?.status == .cancelled)
        #expect(try store.job(id: b.id)?.error == "deleted by the customer")
        let stats = try store.statistics()
        #expect(stats.jobsFailed == 1 && stats.jobsCancelled == 2 && stats.jobsUnfinished == 0)
    }

    @Test("requeue puts a running job back and forgets its model")
    func requeue() throws {
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event))
        try store.start(jobID: event.id, model: "m", backend: "b")
        let entry = try store.requeue(jobID: event.id, reason: "interrupted by a restart")
        let job = try #require(try store.job(id: event.id))
        #expect(job.status == .queued)
        #expect(job.model == nil && job.backend == nil && job.startedAt == nil)
        #expect(entry.kind == "job.requeued")
        #expect(storeError { try store.requeue(jobID: event.id, reason: "again") }?.code == .invalidTransition)
        try store.start(jobID: event.id, model: "m2", backend: "b2")
        #expect(try store.job(id: event.id)?.model == "m2")
    }

    @Test(
        "invalid transitions are refused with invalid_transition and change neither state nor journal",
        arguments: ["complete queued", "start running", "complete twice", "fail completed", "cancel failed", "start cancelled"])
    func invalidTransitions(_ scenario: String) throws {
        // Given a job brought to the scenario's state
        let store = try Fixture().store
        let event = request()
        try store.admit(newJob(event))
        let completion = JobCompletion(resultEventID: resultID(2), durationMs: 1)
        switch scenario {
        case "start running":
            try store.start(jobID: event.id, model: "m", backend: "b")
        case "complete twice", "fail completed":
            try store.start(jobID: event.id, model: "m", backend: "b")
            try store.complete(jobID: event.id, completion)
        case "cancel failed":
            try store.fail(jobID: event.id, reason: "x")
        case "start cancelled":
            try store.cancel(jobID: event.id, reason: "x")
        default:
            break
        }
        let before = try Everything(store)
        // When the invalid call is made
        let error = storeError {
            switch scenario {
            case "complete queued", "complete twice": try store.complete(jobID: event.id, completion)
            case "start running", "start cancelled": try store.start(jobID: event.id, model: "m", backend: "b")
            case "fail completed": try store.fail(jobID: event.id, reason: "late")
            default: try store.cancel(jobID: event.id, reason: "late")
            }
        }
        // Then it is refused, clearly, and nothing changed
        #expect(error?.code == .invalidTransition)
        #expect(error?.message.contains(event.id.hex) == true)
        #expect(try Everything(store) == before)
    }

    @Test("a transaction that fails half-way leaves no trace: completion with an already recorded payment hash")
    func atomicity() throws {
        // Given a paid zap with a payment hash and a running job
        let store = try Fixture().store
        try store.recordEarning(NewEarning(amountMsats: 21_000, source: .zap, paymentHash: paymentHash(9)))
        let event = request()
        try store.admit(newJob(event))
        try store.start(jobID: event.id, model: "m", backend: "b")
        let before = try Everything(store)
        // When the completion carries the same payment hash (its UPDATE runs before the earning fails)
        let error = storeError {
            try store.complete(
                jobID: event.id,
                JobCompletion(resultEventID: resultID(3), durationMs: 1, earning: NewEarning(amountMsats: 5, paymentHash: paymentHash(9))))
        }
        // Then the completion is rolled back with the earning: still running, journal unchanged
        #expect(error?.code == .duplicate)
        #expect(try Everything(store) == before)
        #expect(try store.job(id: event.id)?.status == .running)
        // And no transaction is left open: the next write commits
        try store.complete(jobID: event.id, JobCompletion(resultEventID: resultID(3), durationMs: 1))
        #expect(try store.job(id: event.id)?.status == .completed)
    }

    @Test("unknown jobs are not_found; bad arguments are invalid_argument; neither writes")
    func notFoundAndArguments() throws {
        let store = try Fixture().store
        let missing = request("missing").id
        #expect(storeError { try store.start(jobID: missing, model: "m", backend: "b") }?.code == .notFound)
        #expect(storeError { try store.complete(jobID: missing, JobCompletion(resultEventID: resultID(1), durationMs: 1)) }?.code == .notFound)
        #expect(storeError { try store.fail(jobID: missing, reason: "x") }?.code == .notFound)
        #expect(try store.job(id: missing) == nil)
        let event = request()
        try store.admit(newJob(event))
        try store.start(jobID: event.id, model: "m", backend: "b")
        #expect(storeError { try store.fail(jobID: event.id, reason: "") }?.code == .invalidArgument)
        #expect(storeError { try store.complete(jobID: event.id, JobCompletion(resultEventID: resultID(1), durationMs: -1)) }?.code == .invalidArgument)
        let note = TestEvents.note(customer)
        #expect(storeError { try store.admit(newJob(note)) }?.code == .invalidArgument)
        var badParams = newJob(request("p"))
        badParams.params = .array([])
        #expect(storeError { try store.admit(badParams) }?.code == .invalidArgument)
        #expect(try store.journal().count == 3)
    }

    @Test("rejections are seen, journaled with their reason and extra data, and never admitted later")
    func rejections() throws {
        let store = try Fixture().store
        let event = request()
        let entry = try store.recordRejection(
            eventID: event.id, reason: "rate_limited", data: .object([.init("customer", .string(customer.publicKey.hex)), .init("reason", .string("ignored"))]))
        #expect(entry.kind == "job.rejected")
        #expect(
            entry.data
                == .object([.init("id", .string(event.id.hex)), .init("reason", .string("rate_limited")), .init("customer", .string(customer.publicKey.hex))]))
        #expect(try store.hasProcessed(event.id))
        #expect(try store.processedRequest(event.id)?.outcome == "rate_limited")
        #expect(storeError { try store.admit(newJob(event)) }?.code == .duplicate)
        #expect(storeError { try store.recordRejection(eventID: event.id, reason: "again") }?.code == .duplicate)
        #expect(storeError { try store.recordRejection(eventID: request("x").id, reason: "admitted") }?.code == .invalidArgument)
        #expect(try store.jobs().isEmpty)
        #expect(try store.journal().count == 1)
    }

    @Test("dedupe survives a reopen: the same request is not admitted twice")
    func dedupeAcrossReopen() throws {
        let fixture = try Fixture()
        let admitted = request("one")
        let rejected = request("two")
        try fixture.store.admit(newJob(admitted))
        try fixture.store.recordRejection(eventID: rejected.id, reason: "too_large")
        try fixture.store.close()
        let store = try fixture.reopen()
        #expect(try store.hasProcessed(admitted.id))
        #expect(try store.hasProcessed(rejected.id))
        #expect(try store.hasProcessed(request("three").id) == false)
        #expect(storeError { try store.admit(newJob(admitted)) }?.code == .duplicate)
        #expect(storeError { try store.admit(newJob(rejected)) }?.code == .duplicate)
        #expect(try store.jobs().count == 1)
    }

    @Test("jobs lists newest first, by status, within the limit")
    func listing() throws {
        let store = try Fixture().store
        let events = (0..<5).map { request("job \($0)") }
        for event in events { try store.admit(newJob(event)) }
        try store.start(jobID: events[1].id, model: "m", backend: "b")
        try store.start(jobID: events[3].id, model: "m", backend: "b")
        #expect(try store.jobs().map(\.id) == events.reversed().map(\.id))
        #expect(try store.jobs(limit: 2).map(\.id) == [events[4].id, events[3].id])
        #expect(try store.jobs(status: .running).map(\.id) == [events[3].id, events[1].id])
        #expect(try store.jobs(status: .failed).isEmpty)
        #expect(try store.jobs(limit: 0).isEmpty)
    }

    @Test("after a crash the unfinished jobs are there, oldest first, and finished ones are not")
    func crashRecovery() throws {
        // Given jobs in every state, and a copy of the files taken while the store is open (as a
        // crash leaves them: committed transactions in the WAL, not checkpointed)
        let fixture = try Fixture()
        let store = fixture.store
        let queued = request("queued")
        let running = request("running")
        let unpaid = request("unpaid")
        let done = request("done")
        try store.admit(newJob(queued))
        try store.admit(newJob(running))
        try store.admit(newJob(unpaid, price: 1000))
        try store.admit(newJob(done))
        try store.start(jobID: running.id, model: "m", backend: "b")
        try store.start(jobID: done.id, model: "m", backend: "b")
        try store.complete(jobID: done.id, JobCompletion(resultEventID: resultID(4), durationMs: 3))
        let crashed = try TestHome()
        let copy = crashed.file("pylon.db").path(percentEncoded: false)
        #expect(FileManager.default.fileExists(atPath: fixture.path + "-wal"))
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        try FileManager.default.copyItem(atPath: fixture.path + "-wal", toPath: copy + "-wal")
        // When the copy opens
        let recovered = try PylonStore.open(path: copy, clock: fixture.clock.function)
        // Then the three open jobs come back in arrival order with their requests, and the stats too
        let open = try recovered.unfinishedJobs()
        #expect(open.map(\.id) == [queued.id, running.id, unpaid.id])
        #expect(open.map(\.status) == [.queued, .running, .awaitingPayment])
        #expect(try open[1].requestEvent() == running)
        let stats = try recovered.statistics()
        #expect(stats.jobsCompleted == 1 && stats.jobsUnfinished == 3 && stats.lastSeq == 11)
        #expect(try recovered.journal() == store.journal())
    }

    @Test("many tasks admitting at once: every job lands once, seq has no gaps and arrival is the admission seq")
    func concurrentAdmission() async throws {
        let store = try Fixture().store
        let events = (0..<200).map { request("concurrent \($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: events.count, by: 25) {
                let slice = Array(events[chunk..<(chunk + 25)])
                group.addTask {
                    for event in slice {
                        try store.admit(newJob(event))
                        try store.append(kind: "relay.up")
                    }
                }
            }
            try await group.waitForAll()
        }
        let journal = try store.journal()
        #expect(journal.map(\.seq) == Array(1...600), "received + admitted per job, one relay.up each")
        let jobs = try store.unfinishedJobs()
        #expect(jobs.count == 200)
        #expect(Set(jobs.map(\.id)) == Set(events.map(\.id)))
        let admittedSeqs = journal.filter { $0.kind == "job.admitted" }.map(\.seq)
        #expect(jobs.map(\.arrival) == admittedSeqs)
        #expect(try store.statistics().jobsUnfinished == 200)
    }

    @Test("the same request delivered by many relays at once is admitted exactly once")
    func concurrentDuplicates() async throws {
        let store = try Fixture().store
        let event = request()
        let admitted = Counter()
        let duplicates = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    switch storeError({ try store.admit(newJob(event)) })?.code {
                    case nil: admitted.increment()
                    case .duplicate?: duplicates.increment()
                    default: break
                    }
                }
            }
        }
        #expect(admitted.value == 1)
        #expect(duplicates.value == 15)
        #expect(try store.journal().map(\.kind) == ["job.received", "job.admitted"])
    }
}
