import Backends
import Foundation
import NostrCore
import Provider
import PylonBasics
import PylonTestSupport
import Testing

private let customer = Keypair(SecretKey.generate())
private let provider = Keypair(SecretKey.generate())

private func request(_ tags: [NostrCore.Tag], content: String = "", kind: Kind = 5050, createdAt: Int64? = nil, by author: Keypair = customer) -> Event {
    UnsignedEvent(pubkey: author.publicKey, createdAt: createdAt ?? Int64(Date().timeIntervalSince1970), kind: kind, tags: tags, content: content)
        .sign(with: author)
}

@Suite("job requests: inputs, params and encryption (NIP-90)")
struct JobRequestTests {
    @Test("the registry's quirks: input type prompt, top-k and top-p, string values")
    func registryQuirks() throws {
        let parsed = JobRequest(event: request([
            ["i", "what is the capital of France?", "prompt"], ["param", "model", "LLaMA-2"], ["param", "max_tokens", "512"],
            ["param", "temperature", "0.5"], ["param", "top-k", "50"], ["param", "top-p", "0.7"], ["param", "frequency_penalty", "1"],
            ["param", "stop", "\n\n"], ["bid", "5000"], ["relays", "wss://a.example", "wss://b.example"], ["p", provider.publicKey.hex],
        ]))
        #expect(parsed.inputs == [JobInput(value: "what is the capital of France?", type: .text)])
        let params = try parsed.parameters()
        #expect(params.model == "LLaMA-2")
        #expect(params.maxTokens == 512)
        #expect(params.temperature == 0.5)
        #expect(params.topK == 50)
        #expect(params.topP == 0.7)
        #expect(params.frequencyPenalty == 1)
        #expect(params.stop == ["\n\n"])
        #expect(parsed.bidMsats == 5000)
        #expect(parsed.relays == ["wss://a.example", "wss://b.example"])
        #expect(!parsed.isAddressed(elsewhere: provider.publicKey))
        #expect(parsed.isAddressed(elsewhere: customer.publicKey))
    }

    @Test("bad requests give a reason: no input, unknown type, bad ids, malformed params, url inputs off")
    func invalid() {
        func reason(_ tags: [NostrCore.Tag]) -> String? {
            do {
                try JobRequest(event: request(tags)).validate(allowURLInputs: false)
                return nil
            } catch {
                return error.code.rawValue
            }
        }
        #expect(reason([]) == "invalid_request")
        #expect(reason([["i", "x", "image"]]) == "invalid_request")
        #expect(reason([["i", "not-an-id", "event"]]) == "invalid_request")
        #expect(reason([["i", "x", "text"], ["param", "temperature", "hot"]]) == "invalid_request")
        #expect(reason([["i", "x", "text"], ["param", "max_tokens", "-3"]]) == "invalid_request")
        #expect(reason([["i", "http://example.com", "url"]]) == "unsupported_input")
        #expect(reason([["i", "x", "text"], ["param", "max_tokens", "3"]]) == nil)
    }

    @Test("encrypted requests decrypt with either scheme, detected by shape; a wrong key is undecryptable")
    func encrypted() throws {
        let plaintext = #"[["i","secret prompt","text"],["param","max_tokens","7"]]"#
        for scheme in [EncryptionScheme.nip04, .nip44] {
            let content = try scheme.encrypt(plaintext, secretKey: customer.secretKey, peer: provider.publicKey)
            #expect(EncryptionScheme.detect(content) == scheme)
            var parsed = JobRequest(event: request([["p", provider.publicKey.hex], ["encrypted"]], content: content))
            #expect(parsed.isEncrypted)
            #expect(parsed.inputs.isEmpty, "nothing is read before decryption")
            try parsed.decrypt(with: provider.secretKey)
            #expect(parsed.inputs.map(\.value) == ["secret prompt"])
            #expect(try parsed.parameters().maxTokens == 7)
            var wrong = JobRequest(event: request([["p", provider.publicKey.hex], ["encrypted"]], content: content))
            #expect(throws: NostrError.self) { try wrong.decrypt(with: SecretKey.generate()) }
            // Admission calls that undecryptable, and says why.
            let policy = AdmissionPolicy(configuration: ProviderConfiguration(), provider: provider.publicKey)
            do {
                try policy.checkContent(&wrong, secretKey: SecretKey.generate(), now: Int64(Date().timeIntervalSince1970))
                Issue.record("a request for another key passed admission")
            } catch {
                #expect(error.reason == .undecryptable)
                #expect(error.message.contains("does not decrypt with this provider's key (\(scheme.rawValue))"), "\(error.message)")
            }
        }
    }
}

@Suite("admission: the SPEC's order of checks")
struct AdmissionTests {
    let policy = AdmissionPolicy(
        configuration: ProviderConfiguration(maxInputBytes: 10, maxRequestAge: 600, rateLimitPerMinute: 2), provider: provider.publicKey)

    func rejection(_ event: Event, now: Int64 = Int64(Date().timeIntervalSince1970), price: Int64 = 0) -> RejectionReason? {
        var policy = policy
        policy.configuration.priceMsats = price
        var parsed = JobRequest(event: event)
        do {
            try policy.checkAddressAndTime(parsed, now: now)
            try policy.checkContent(&parsed, secretKey: provider.secretKey, now: now)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("another provider, stale, future, expired, too large, bid too low, unserved kind")
    func reasons() {
        let now = Int64(Date().timeIntervalSince1970)
        #expect(rejection(request([["i", "hi", "text"]])) == nil)
        #expect(rejection(request([["i", "hi", "text"], ["p", customer.publicKey.hex]])) == .otherProvider)
        #expect(rejection(request([["i", "hi", "text"]], createdAt: now - 601)) == .stale)
        #expect(rejection(request([["i", "hi", "text"]], createdAt: now + 301)) == .future)
        #expect(rejection(request([["i", "hi", "text"], ["expiration", String(now - 1)]])) == .expired)
        #expect(rejection(request([["i", "more than ten bytes", "text"]])) == .inputTooLarge)
        #expect(rejection(request([["i", "hi", "text"], ["bid", "10"]]), price: 100) == .bidTooLow)
        #expect(rejection(request([["i", "hi", "text"], ["bid", "100"]]), price: 100) == nil)
        #expect(rejection(request([["i", "hi", "text"]], kind: 5100)) == .unservedKind)
        // Order: a stale request for another provider is another provider's.
        #expect(rejection(request([["i", "hi", "text"], ["p", customer.publicKey.hex]], createdAt: now - 9999)) == .otherProvider)
    }

    @Test("the rate limiter lets a customer make N requests a minute, refilling over time, each customer apart")
    func rateLimit() {
        var limiter = CustomerRateLimiter(perMinute: 2)
        let start = ContinuousClock.now
        let answers = [
            limiter.check(customer.publicKey, now: start), limiter.check(customer.publicKey, now: start),
            limiter.check(customer.publicKey, now: start), limiter.check(provider.publicKey, now: start),
            limiter.check(customer.publicKey, now: start + .seconds(30)),
        ].map { $0 == .allowed }
        #expect(answers == [true, true, false, true, true])
        var unlimited = CustomerRateLimiter(perMinute: 0)
        var allowed = 0
        for _ in 0..<1000 where unlimited.check(customer.publicKey) == .allowed { allowed += 1 }
        #expect(allowed == 1000)
    }

    @Test("a customer over the limit is told when to retry once per window; the window's further requests are quiet")
    func rateLimitAnswersOncePerWindow() {
        var limiter = CustomerRateLimiter(perMinute: 2)
        let start = ContinuousClock.now
        func check(after seconds: Double) -> (retry: Double, tell: Bool)? {
            guard case .limited(let retry, let tell) = limiter.check(customer.publicKey, now: start + .seconds(seconds)) else { return nil }
            return (Double(retry.components.seconds) + Double(retry.components.attoseconds) / 1e18, tell)
        }
        #expect(check(after: 0) == nil)
        #expect(check(after: 0) == nil)
        // Empty: the next token comes in 30 s. The first refusal is told so; a flood is not.
        let first = check(after: 1)
        #expect(first?.tell == true)
        #expect(abs((first?.retry ?? 0) - 29) < 0.01)
        for second in stride(from: 2.0, to: 30, by: 0.5) {
            #expect(check(after: second)?.tell == false)
        }
        // Refusals did not take tokens: the retry time holds.
        #expect(check(after: 30) == nil)
        // A new window is told again, with its own retry time.
        let next = check(after: 31)
        #expect(next?.tell == true)
        #expect(abs((next?.retry ?? 0) - 29) < 0.01)
        // Another customer is not affected.
        #expect(limiter.check(provider.publicKey, now: start + .seconds(31)) == .allowed)
    }
}

@Suite("the scheduler: priority, slots, a bounded queue, cancellation, deadlines")
struct SchedulerTests {
    func item(_ id: String, priority: Int64 = 0) -> ScheduledItem {
        ScheduledItem(id: id, origin: .nostr, kind: 5050, priority: priority)
    }

    @Test("paid before free, the higher amount first, then arrival order; slots bound what runs")
    func order() async throws {
        let scheduler = JobScheduler(slots: 1, maxQueue: 10)
        for (id, priority) in [("free-1", 0), ("paid-10", 10), ("free-2", 0), ("paid-50", 50), ("paid-10b", 10)] {
            try scheduler.enqueue(item(id, priority: Int64(priority)))
        }
        var order: [String] = []
        for _ in 0..<5 {
            let next = try #require(await scheduler.next())
            order.append(next.item.id)
            #expect(scheduler.snapshot().running.count == 1)
            scheduler.finish(next.item.id)
        }
        #expect(order == ["paid-50", "paid-10", "paid-10b", "free-1", "free-2"])
    }

    @Test("a full queue refuses with busy; a slot that frees up takes the next job")
    func busy() async throws {
        let scheduler = JobScheduler(slots: 1, maxQueue: 1)
        try scheduler.enqueue(item("a"))
        let first = try #require(await scheduler.next())
        try scheduler.enqueue(item("b"))
        #expect(!scheduler.hasRoom)
        #expect(throws: SchedulerBusy.self) { try scheduler.enqueue(item("c")) }
        async let second = scheduler.next()
        scheduler.finish(first.item.id)
        #expect(await second?.item.id == "b")
    }

    @Test("cancelling a queued job removes it; a running one is signalled; close ends next()")
    func cancel() async throws {
        let scheduler = JobScheduler(slots: 1, maxQueue: 5)
        try scheduler.enqueue(item("run"))
        try scheduler.enqueue(item("wait"))
        let running = try #require(await scheduler.next())
        #expect(scheduler.cancel("wait", reason: "r") == .removedFromQueue(scheduler.snapshot().queued.first ?? item("wait")) || scheduler.snapshot().queued.isEmpty)
        #expect(scheduler.snapshot().queued.isEmpty)
        #expect(scheduler.cancel("run", reason: "stop it") == .signalled)
        #expect(running.control.cancellationReason == "stop it")
        #expect(scheduler.cancel("nope", reason: "r") == .notFound)
        scheduler.close()
        #expect(await scheduler.next() == nil)
    }

    @Test("a reserved slot: only when one is free and nothing waits; its job runs before the queue; release gives it back")
    func reservation() async throws {
        let scheduler = JobScheduler(slots: 2, maxQueue: 1)
        // A free slot and an empty queue: reserved, and counted against room and slots
        guard let first = mustReserve(scheduler, "a free slot and an empty queue give a reservation") else { return }
        try scheduler.enqueue(item("queued-1"))
        #expect(!reserves(scheduler), "a job waits in the queue: no reservation jumps it")
        let running = try #require(await scheduler.next())
        #expect(running.item.id == "queued-1")
        #expect(scheduler.hasRoom, "one running, one reserved: the queue's one place is left")
        try scheduler.enqueue(item("queued-2"))
        #expect(!scheduler.hasRoom)
        #expect(throws: SchedulerBusy.self) { try scheduler.enqueue(item("queued-3")) }
        // The reserved job comes with its reservation: it runs next, ahead of the queue, although
        // the queued job arrived first
        scheduler.enqueue(item("admitted"), reservation: first)
        #expect(scheduler.snapshot().queued.map(\.id) == ["admitted", "queued-2"])
        let next = try #require(await scheduler.next())
        #expect(next.item.id == "admitted")
        #expect(scheduler.snapshot().running.map(\.id).sorted() == ["admitted", "queued-1"])
        // No slot free: no reservation
        scheduler.finish("queued-1")
        let third = try #require(await scheduler.next())
        #expect(third.item.id == "queued-2")
        #expect(!reserves(scheduler))
        // A released reservation frees its slot for the queue at once
        scheduler.finish("admitted")
        guard let spare = mustReserve(scheduler, "a slot freed up: it can be reserved") else { return }
        try scheduler.enqueue(item("queued-4"))
        async let fourth = scheduler.next()
        #expect(await awaitCondition { scheduler.isAwaitingWork }, "next() waits: the spare slot is reserved")
        scheduler.release(spare)
        #expect(await fourth?.item.id == "queued-4")
    }

    @Test("a job that took a reserved slot is cancelled and drained like a queued one; close refuses reservations")
    func reservationCancelAndDrain() async throws {
        let scheduler = JobScheduler(slots: 1, maxQueue: 2)
        guard let reservation = mustReserve(scheduler, "a free slot and an empty queue give a reservation") else { return }
        scheduler.enqueue(item("admitted"), reservation: reservation)
        #expect(scheduler.inFlight().items.map(\.id) == ["admitted"])
        guard case .removedFromQueue(let removed) = scheduler.cancel("admitted", reason: "deleted") else {
            Issue.record("a job holding a reserved slot, not started yet, is removed like a queued one")
            return
        }
        #expect(removed.id == "admitted")
        #expect(scheduler.snapshot().queued.isEmpty && scheduler.counts.queued == 0)
        guard let again = mustReserve(scheduler, "the cancelled job's slot is free again") else { return }
        scheduler.enqueue(item("again"), reservation: again)
        #expect(scheduler.drainQueue().map(\.id) == ["again"])
        #expect(scheduler.counts.queued == 0 && scheduler.hasRoom)
        scheduler.close()
        #expect(!reserves(scheduler))
    }

    /// A reservation, or nil with `expectation` recorded as failed.
    func mustReserve(_ scheduler: JobScheduler, _ expectation: Comment) -> SlotReservation? {
        let reservation = scheduler.reserveSlot()
        if reservation == nil { Issue.record(expectation) }
        return reservation
    }

    /// Whether a slot can be reserved now (the reservation is given back at once).
    func reserves(_ scheduler: JobScheduler) -> Bool {
        guard let reservation = scheduler.reserveSlot() else { return false }
        scheduler.release(reservation)
        return true
    }

    @Test("the cancellation watcher's wait: returns when the jobs in flight change or the scheduler closes, not before")
    func waitForChange() async throws {
        let scheduler = JobScheduler(slots: 1, maxQueue: 4)
        let (version, _) = scheduler.inFlight()
        // A version that is already stale returns at once.
        await scheduler.waitForChange(from: version - 1)
        let woke = Task { await scheduler.waitForChange(from: version); return ContinuousClock.now }
        #expect(await awaitCondition { scheduler.changeWatchers == 1 })
        let enqueuedAt = ContinuousClock.now
        try scheduler.enqueue(item("a"))
        #expect(await woke.value >= enqueuedAt)
        #expect(scheduler.inFlight().version != version)
        // Nothing changes: it keeps waiting, until close.
        let (current, _) = scheduler.inFlight()
        let waiting = Task { await scheduler.waitForChange(from: current); return ContinuousClock.now }
        #expect(await awaitCondition { scheduler.changeWatchers == 1 })
        let closedAt = ContinuousClock.now
        scheduler.close()
        #expect(await waiting.value >= closedAt)
        // After close it never blocks.
        await scheduler.waitForChange(from: scheduler.inFlight().version)
    }

    @Test("race: the work's value, a deadline, a cancellation")
    func race() async {
        let fast = await JobScheduler.race(JobControl(), timeout: .seconds(5)) { 42 }
        guard case .value(42) = fast else { Issue.record("expected the value, got \(fast)"); return }
        let slow = await JobScheduler.race(JobControl(), timeout: .milliseconds(50)) {
            try await Task.sleep(for: .seconds(30))
            return 1
        }
        guard case .timedOut = slow else { Issue.record("expected a timeout, got \(slow)"); return }
        // Cancelled while the work runs: the work cancels and then waits for far longer.
        let control = JobControl()
        let cancelled = await JobScheduler.race(control, timeout: .seconds(30)) {
            control.cancel("the customer changed their mind")
            try await Task.sleep(for: .seconds(30))
            return 1
        }
        guard case .cancelled(let reason) = cancelled else { Issue.record("expected cancelled, got \(cancelled)"); return }
        #expect(reason == "the customer changed their mind")
    }
}

@Suite("responses: feedback and results as NIP-90 wants them, sized for relays")
struct ResponseTests {
    let responder = Responder(keypair: provider, maxEventBytes: 4000, maxTagValueBytes: 100)

    func reference(_ tags: [NostrCore.Tag], content: String = "") -> RequestReference {
        RequestReference(JobRequest(event: request(tags, content: content)))
    }

    @Test("a result has request, e, p, i and amount; kind is the request's + 1000; it verifies")
    func result() throws {
        let ref = reference([["i", "prompt", "text"], ["p", provider.publicKey.hex]])
        let event = try responder.result(output: "answer", for: ref, amountMsats: 1000, now: 1_700_000_000)
        #expect(event.kind == 6050)
        #expect(event.content == "answer")
        #expect(event.tags.first(named: "e")?.value == ref.id.hex)
        #expect(event.tags.first(named: "p")?.value == customer.publicKey.hex)
        #expect(event.tags.first(named: "i")?.fields == ["i", "prompt", "text"])
        #expect(event.tags.first(named: "amount")?.value == "1000")
        #expect(event.tags.first(named: "request")?.value == ref.requestJSON)
        #expect(event.hasValidID && event.hasValidSignature)
    }

    @Test("long inputs are not echoed; an output too large for relays is an error, not a silent drop")
    func sizes() throws {
        let long = String(repeating: "x", count: 200)
        let ref = reference([["i", long, "text"]])
        let event = try responder.result(output: "short", for: ref, amountMsats: nil, now: 1)
        #expect(event.tags.first(named: "i") == nil)
        #expect(throws: ResponseError.self) { try responder.result(output: String(repeating: "y", count: 5000), for: ref, amountMsats: nil, now: 1) }
    }

    @Test("answers to an encrypted request are encrypted with its scheme, without i tags")
    func encrypted() throws {
        for scheme in [EncryptionScheme.nip04, .nip44] {
            let content = try scheme.encrypt(#"[["i","p","text"]]"#, secretKey: customer.secretKey, peer: provider.publicKey)
            var parsed = JobRequest(event: request([["p", provider.publicKey.hex], ["encrypted"]], content: content))
            try parsed.decrypt(with: provider.secretKey)
            let ref = RequestReference(parsed)
            let result = try responder.result(output: "hidden", for: ref, amountMsats: nil, now: 1)
            #expect(result.tags.first(named: "i") == nil)
            #expect(result.tags.first(named: "encrypted") != nil)
            #expect(EncryptionScheme.detect(result.content) == scheme)
            #expect(try scheme.decrypt(result.content, secretKey: customer.secretKey, peer: provider.publicKey) == "hidden")
            let partial = try responder.feedback(.partial, content: "hid", to: ref, now: 1)
            #expect(try scheme.decrypt(partial.content, secretKey: customer.secretKey, peer: provider.publicKey) == "hid")
            #expect(partial.tags.first(named: "status")?.value == "partial")
        }
    }

    @Test("feedback carries status with the reason, e and p")
    func feedback() throws {
        let ref = reference([["i", "x", "text"]])
        let event = try responder.feedback(.error, extra: "the model is gone", to: ref, now: 1)
        #expect(event.kind == .jobFeedback)
        #expect(event.tags.first(named: "status")?.fields == ["status", "error", "the model is gone"])
        #expect(event.tags.first(named: "e")?.value == ref.id.hex)
        #expect(event.tags.first(named: "p")?.value == customer.publicKey.hex)
    }
}

@Suite("prompts per kind")
struct PromptTests {
    @Test("5050 is the input itself; 5001 summarizes; 5002 translates into the named language")
    func prompts() {
        var params = JobParameters()
        #expect(JobPrompt.messages(kind: 5050, texts: ["a", "b"], parameters: params) == [ChatMessage(role: .user, content: "a\n\nb")])
        params.language = "es"
        let translation = JobPrompt.messages(kind: 5002, texts: ["hello"], parameters: params)
        #expect(translation.first?.role == .system)
        #expect(translation.first?.content.contains("Spanish") == true)
        #expect(translation.last == ChatMessage(role: .user, content: "hello"))
        params.length = "two sentences"
        #expect(JobPrompt.messages(kind: 5001, texts: ["t"], parameters: params).first?.content.contains("two sentences") == true)
        #expect(JobPrompt.messages(kind: 5000, texts: ["t"], parameters: params).first?.content.contains("extract") == true)
    }
}
