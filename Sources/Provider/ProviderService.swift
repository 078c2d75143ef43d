public import Backends
import CoreMetrics
public import Logging
public import NostrCore
public import Payments
import PylonAsync
import PylonBasics
public import PylonStore
public import RelayPool
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Provider mode (SPEC §8): one service that takes NIP-90 requests from the relays, admits them
/// in order, schedules them on a fixed number of slots and answers each with feedback and exactly
/// one result or error.
///
/// Its parts run as child tasks of ``run()``: intake (subscription → admission → queue), dispatch
/// (queue → slots), the cancellation watcher (kind 5), recovery (jobs a crash left open) and the
/// announcer (NIP-89 and heartbeat). Feedback that nobody waits for is published without waiting
/// (``send(_:relays:)``); shutdown waits for the relays' answers to it.
public final class ProviderService: Service, Sendable {
    public let keypair: Keypair
    public let scheduler: JobScheduler
    let pool: RelayPool
    let backends: BackendRegistry
    let store: PylonStore
    /// The wallet priced jobs are paid into; nil for a free provider.
    let wallet: WalletClient?
    let logger: Logger
    let metrics = ProviderMetrics()
    /// The jobs between admission and their final phase, and which move each may make next
    /// (see JobLifecycle.swift).
    let jobs = Mutex(JobTable())
    /// Priced jobs waiting for their invoice (see PaidJobs.swift).
    let invoicing = AsyncStream.makeStream(of: InvoiceOrder.self)
    /// Wakes the payment checker when an invoice is first followed; it sleeps while none is.
    let invoiceFollowed = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    private let settings: Mutex<ProviderConfiguration>
    private let limiter: Mutex<CustomerRateLimiter>
    private let local = Mutex<[String: LocalTicket]>([:])
    private let intakeSubscription = Mutex<PoolSubscription?>(nil)
    private let stopping = Atomic<Bool>(false)
    /// Fulfilled when the shutdown's grace period is cut short (``endDrain()``).
    private let drainEnd = Promise<Void>()
    /// Feedback published and not answered yet.
    let unanswered = PendingCount()
    /// Set when the handler information must go out again (start, a changed announcement).
    let announceRequested = Atomic<Bool>(true)

    /// The reason given to jobs stopped by a shutdown.
    static let shutdownReason = "the provider is shutting down; please submit the job again"

    public init(
        configuration: ProviderConfiguration, keypair: Keypair, pool: RelayPool, backends: BackendRegistry, store: PylonStore,
        wallet: WalletClient? = nil, logger: Logger = Logger(label: "pylon.provider")
    ) {
        self.keypair = keypair
        self.pool = pool
        self.backends = backends
        self.store = store
        self.wallet = wallet
        self.logger = logger
        settings = Mutex(configuration)
        limiter = Mutex(CustomerRateLimiter(perMinute: configuration.rateLimitPerMinute))
        scheduler = JobScheduler(slots: configuration.slots, maxQueue: configuration.maxQueue)
        metrics.observe(scheduler)
    }

    public var configuration: ProviderConfiguration { settings.withLock { $0 } }

    var responder: Responder {
        let configuration = configuration
        return Responder(keypair: keypair, maxEventBytes: configuration.maxEventBytes, maxTagValueBytes: configuration.maxTagValueBytes)
    }

    // MARK: Service

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.intake() }
            group.addTask {
                await self.dispatch()
                await self.awaitAnswersTaken()
            }
            group.addTask { await self.recover() }
            group.addTask { await self.takePayments() }
            group.addTask { await self.watchCancellations() }
            group.addTask { await self.announce() }
            group.addTask {
                try? await gracefulShutdown()
                self.beginShutdown()
            }
        }
    }

    /// Stop taking jobs: close the intake, stop dispatching, answer queued jobs honestly. Running
    /// jobs get a grace period in ``dispatch()``.
    private func beginShutdown() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        logger.info("provider stopping: no new jobs")
        intakeSubscription.withLock { $0 }?.close()
        invoicing.continuation.finish()
        invoiceFollowed.continuation.finish()
        // Queued jobs are answered before dispatch closes, so their feedback makes the outbox.
        for item in scheduler.drainQueue() {
            switch item.origin {
            case .local:
                local.withLock { $0[item.id] }?.start.fulfill(false)
            case .nostr:
                if let job = jobs.withLock({ $0.entry(item.id) }) { failJob(job.request, reason: Self.shutdownReason) }
            }
        }
        scheduler.close()
        metrics.observe(scheduler)
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Ends the shutdown's grace period at once (a second SIGTERM or SIGINT, `pylon stop --timeout`):
    /// running jobs are stopped now and answered with an `error` feedback, as when the grace
    /// period runs out, and the relays get at most a second more to take the last answers.
    /// Called before the shutdown reaches the provider, it takes effect when it does.
    public func endDrain() {
        guard drainEnd.fulfill(()) else { return }
        guard isStopping else { return }
        let running = scheduler.snapshot().running
        logger.notice("provider drain ended early: running jobs get an error", metadata: ["jobs.running": "\(running.count)"])
        for item in running { _ = scheduler.cancel(item.id, reason: Self.shutdownReason) }
    }

    var drainEnded: Bool { drainEnd.current != nil }

    /// Every job has its answer sent: waits for the relays to take the last feedback before the
    /// pool closes (a publish timeout at most; a second once the drain was ended early).
    private func awaitAnswersTaken() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.unanswered.drained() }
            group.addTask {
                // nil: cancelled because every answer was taken.
                guard await self.drainEnd.wait() != nil else { return }
                try? await LoopTimer.sleep(for: .seconds(1))
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    // MARK: Reload

    /// Applies a new `[provider]` (a reload): limits at once, kinds by resubscribing, a changed
    /// announcement by publishing it again.
    public func update(_ new: ProviderConfiguration) {
        let old = settings.withLock { settings in
            defer { settings = new }
            return settings
        }
        limiter.withLock { $0.perMinute = new.rateLimitPerMinute }
        scheduler.update(slots: new.slots, maxQueue: new.maxQueue)
        metrics.observe(scheduler)
        if new.kinds != old.kinds {
            // The intake loop subscribes again with the new kinds.
            intakeSubscription.withLock { $0 }?.close()
        }
        if new.changesAnnouncement(from: old) { announceRequested.store(true, ordering: .relaxed) }
    }

    // MARK: Intake

    /// Subscribes to the served kinds and admits what arrives, one request at a time, until
    /// shutdown. A closed subscription (new kinds) is opened again.
    private func intake() async {
        while !isStopping && !Task.isCancelled {
            let configuration = configuration
            let since = Int64(Date().timeIntervalSince1970) - configuration.maxRequestAge
            let subscription = pool.subscribe([Filter(kinds: Set(configuration.kinds), since: since)])
            intakeSubscription.withLock { $0 = subscription }
            if isStopping { subscription.close() }
            for await item in subscription.events {
                if case .event(let event, _) = item { receive(event) }
            }
        }
    }

    /// Runs the admission pipeline of SPEC §8 on one verified event, in order.
    func receive(_ event: Event) {
        guard event.kind.isJobRequest, !isStopping else { return }
        metrics.received.increment()
        let now = Int64(Date().timeIntervalSince1970)
        let configuration = configuration
        let policy = AdmissionPolicy(configuration: configuration, provider: keypair.publicKey)
        var request = JobRequest(event: event)
        do {
            try policy.checkAddressAndTime(request, now: now)
            if try store.hasProcessed(event.id) { throw Rejection(.duplicate, "already seen") }
            try policy.checkContent(&request, secretKey: keypair.secretKey, now: now)
            if case .limited(let retryAfter, let tell) = limiter.withLock({ $0.check(event.pubkey) }) {
                let seconds = max(1, Int((Double(retryAfter.nanoseconds) / 1e9).rounded(.up)))
                throw Rejection(
                    .rateLimited,
                    "rate-limited: this provider takes \(configuration.rateLimitPerMinute) requests a minute from one customer; try again in \(seconds) s",
                    quiet: !tell)
            }
            guard scheduler.hasRoom else {
                let snapshot = scheduler.snapshot()
                throw Rejection(.busy, "busy: \(snapshot.running.count) jobs running and \(snapshot.queued.count) waiting; try again later")
            }
        } catch let rejection as Rejection {
            reject(request, rejection)
            return
        } catch {
            logger.error("cannot check a request against the store", metadata: ["job.id": "\(event.id)", "error": "\(error)"])
            return
        }
        admit(request, configuration: configuration)
    }

    private func reject(_ request: JobRequest, _ rejection: Rejection) {
        metrics.reject(rejection.reason)
        if rejection.quiet {
            logger.debug("request rejected quietly", metadata: ["job.id": "\(request.id)", "job.reason": "\(rejection.reason.rawValue)"])
            return
        }
        if rejection.reason.isJournaled {
            do {
                try store.recordRejection(
                    eventID: request.id, reason: rejection.reason.rawValue,
                    data: .object([.init("message", .string(rejection.message)), .init("customer", .string(request.customer.hex))]),
                    request: request.event)
            } catch {
                // Two relays delivering at once: the other one recorded it.
                if error.code == .duplicate { return }
                logger.error("cannot journal a rejection", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            }
        }
        logger.debug(
            "request rejected", metadata: ["job.id": "\(request.id)", "job.reason": "\(rejection.reason.rawValue)", "job.message": "\(rejection.message)"])
        if rejection.reason.sendsFeedback {
            send(feedback: .error, extra: rejection.message, to: RequestReference(request))
        }
    }

    private func admit(_ request: JobRequest, configuration: ProviderConfiguration) {
        let parameters = (try? request.parameters()) ?? JobParameters()
        // A free job with a slot free now starts as it is admitted: one write records both.
        // Anything else (a price, a full house, no route: execute reports why) starts later.
        var route: BackendRoute?
        var reservation: SlotReservation?
        if configuration.priceMsats == 0, let found = try? backends.route(model: parameters.model) {
            reservation = scheduler.reserveSlot()
            if reservation != nil { route = found }
        }
        let input = request.inputs.map(\.value).joined(separator: "\n\n")
        let params = JSON.object(request.params.map { JSON.Member($0.name, .string($0.values.joined(separator: " "))) }.uniqued())
        let job = NewJob(
            request: request.event, requestedModel: parameters.model, input: request.isEncrypted ? "" : input,
            inputBytes: input.utf8.count, params: request.isEncrypted ? .object([]) : params, bidMsats: request.bidMsats,
            priceMsats: configuration.priceMsats, encrypted: request.isEncrypted, relays: request.relays, priority: 0, receivedAt: Date())
        do {
            try store.admit(job, startingOn: route.map { JobStart(model: $0.model, backend: $0.backendName) })
        } catch {
            if let reservation = reservation.take() { scheduler.release(reservation) }
            if error.code != .duplicate {
                logger.error("cannot admit a job", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
            }
            return
        }
        metrics.admitted.increment()
        logger.debug("job admitted", metadata: ["job.id": "\(request.id)", "job.kind": "\(request.event.kind)", "job.customer": "\(request.customer)"])
        // Admitted in the store's one transaction, and as it was written: waiting for payment,
        // started, or queued.
        let id = request.id.hex
        let next: JobPhase = configuration.priceMsats > 0 ? .awaitingPayment : reservation != nil ? .running : .queued
        jobs.withLock { jobs in
            _ = jobs.insert(request)
            jobs.move(id, to: next, route: route)
        }
        switch next {
        case .awaitingPayment:
            // Priced: nothing runs before the wallet confirms the payment.
            askForPayment(request)
        case .running:
            if let reservation = reservation.take() {
                scheduler.enqueue(Self.scheduledItem(request), reservation: reservation)
                metrics.observe(scheduler)
            }
        default:
            schedule(request)
        }
    }

    /// `priority` is what the job paid, in msats: paid jobs run first, the higher amount first.
    static func scheduledItem(_ request: JobRequest, priority: Int64 = 0) -> ScheduledItem {
        ScheduledItem(
            id: request.id.hex, origin: .nostr, kind: Int(request.event.kind.rawValue), priority: priority, request: request.id,
            customer: request.customer, requestCreatedAt: request.event.createdAt)
    }

    /// Puts a queued job (admitted, recovered or paid) in the scheduler.
    func schedule(_ request: JobRequest, priority: Int64 = 0) {
        let item = Self.scheduledItem(request, priority: priority)
        do {
            try scheduler.enqueue(item)
        } catch {
            // Only a local job taking the last place since the check: the job fails honestly.
            failJob(request, reason: error.description)
        }
        metrics.observe(scheduler)
    }

    /// Moves a job to its next phase (JobLifecycle.swift): the table agrees first, so of two paths
    /// racing for the same job only one goes on; then `record` writes the move to the store, in
    /// one transaction with its journal entry. Returns the job as it is now, or nil when the move
    /// was refused (logged; nothing written) or could not be written (logged; the store keeps
    /// the earlier status, which the next start takes up).
    @discardableResult
    func advance(_ id: EventID, to next: JobPhase, route: BackendRoute? = nil, record: () throws -> Void = {}) -> JobTable.Entry? {
        let moved = jobs.withLock { $0.move(id.hex, to: next, route: route) }
        switch moved {
        case .success(let entry):
            do {
                try record()
            } catch {
                // The store keeps the earlier status: the next start takes the job up from there.
                logger.error("cannot record a job's move", metadata: ["job.id": "\(id)", "job.phase": "\(next.rawValue)", "error": "\(error)"])
                return nil
            }
            return entry
        case .failure(.unknown):
            logger.debug("no job to move", metadata: ["job.id": "\(id)", "job.phase": "\(next.rawValue)"])
            return nil
        case .failure(.notAllowed(let from)):
            logger.debug("job move refused", metadata: ["job.id": "\(id)", "job.from": "\(from.rawValue)", "job.phase": "\(next.rawValue)"])
            return nil
        }
    }

    // MARK: Dispatch

    /// Runs jobs as slots free up until the scheduler closes; then gives running jobs a grace
    /// period before telling them to stop.
    private func dispatch() async {
        // A job routed before the backends were first probed would fail for nothing (a stop meanwhile
        // ends the wait; a probe that takes more than 30 s does too).
        let probing = ContinuousClock.now + .seconds(30)
        while !isStopping, ContinuousClock.now < probing, !(await backends.awaitFirstDetection(timeout: .milliseconds(250))) {}
        await withDiscardingTaskGroup { slots in
            while let next = await scheduler.next() {
                metrics.observe(scheduler)
                logger.trace("job dispatched", metadata: ["job.id": "\(next.item.id)"])
                slots.addTask {
                    switch next.item.origin {
                    case .nostr:
                        if let job = self.jobs.withLock({ $0.entry(next.item.id) }) {
                            await self.execute(job.request, startedOn: job.phase == .running ? job.route : nil, control: next.control)
                        }
                    case .local:
                        if let ticket = self.local.withLock({ $0[next.item.id] }) {
                            ticket.start.fulfill(true)
                            _ = await ticket.done.wait()
                        }
                    }
                    self.scheduler.finish(next.item.id)
                    self.metrics.observe(self.scheduler)
                }
            }
            slots.addTask {
                let grace = min(self.configuration.jobTimeout, .seconds(10))
                let deadline = ContinuousClock.now + grace
                while !self.scheduler.snapshot().running.isEmpty && ContinuousClock.now < deadline && !self.drainEnded {
                    try? await LoopTimer.sleep(for: .milliseconds(50))
                }
                for item in self.scheduler.snapshot().running {
                    _ = self.scheduler.cancel(item.id, reason: Self.shutdownReason)
                }
            }
        }
    }

    // MARK: Local jobs (the control socket's SubmitJob)

    /// Waits for a slot for a local job, runs `work` in the caller's task while holding it, and
    /// frees it. Throws ``SchedulerBusy`` when the queue is full, ``LocalJobRefused`` when the
    /// provider stops first.
    public func runLocal<Value: Sendable>(_ work: () async throws -> Value) async throws -> Value {
        let id = "local-" + UUID().uuidString.lowercased()
        let ticket = LocalTicket()
        local.withLock { $0[id] = ticket }
        defer { local.withLock { _ = $0.removeValue(forKey: id) } }
        guard !isStopping else { throw LocalJobRefused() }
        try scheduler.enqueue(ScheduledItem(id: id, origin: .local, kind: 5050))
        metrics.observe(scheduler)
        let started = await withTaskCancellationHandler {
            await ticket.start.wait() ?? false
        } onCancel: {
            if case .removedFromQueue = self.scheduler.cancel(id, reason: "the client went away") { ticket.start.fulfill(false) }
        }
        guard started else { throw LocalJobRefused() }
        defer { ticket.done.fulfill(()) }
        return try await work()
    }

    // MARK: Feedback

    /// Publishes an event nobody waits for (feedback): queued for the relays at once, so intake
    /// and jobs never wait on a relay; a relay's refusal is logged.
    func send(_ event: Event, relays: [String]) {
        unanswered.add()
        pool.publish(event, extraRelays: Self.relayURLs(relays), waitForAll: false) { [logger, unanswered] report in
            if !report.succeeded {
                logger.warning(
                    "no relay accepted an event", metadata: ["event.kind": "\(event.kind)", "event.id": "\(event.id)", "relays": "\(report.failureSummary)"])
            }
            unanswered.remove()
        }
    }

    func send(feedback status: FeedbackStatus, extra: String? = nil, content: String = "", to request: RequestReference, amount: JobAmount? = nil) {
        do {
            let event = try responder.feedback(status, extra: extra, content: content, to: request, amount: amount, now: Self.now)
            metrics.feedback[status]?.increment()
            send(event, relays: request.relays)
        } catch {
            logger.error("cannot make feedback", metadata: ["job.id": "\(request.id)", "error": "\(error)"])
        }
    }

    /// The request's `relays` tag as relay URLs, at most five valid ones (a request cannot make
    /// the provider connect to any number of relays).
    static func relayURLs(_ texts: [String]) -> [RelayURL] {
        var urls: [RelayURL] = []
        for text in texts where urls.count < 5 {
            if let url = try? RelayURL(text), !urls.contains(url) { urls.append(url) }
        }
        return urls
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }
}

/// How many things are under way, and a wait for none.
final class PendingCount: Sendable {
    private struct State {
        var count = 0
        var idle: Promise<Void>?
    }

    private let state = Mutex(State())

    func add() { state.withLock { $0.count += 1 } }

    func remove() {
        let idle: Promise<Void>? = state.withLock { state in
            state.count -= 1
            guard state.count == 0 else { return nil }
            defer { state.idle = nil }
            return state.idle
        }
        idle?.fulfill(())
    }

    /// Returns once nothing is under way (at once if nothing is).
    func drained() async {
        let idle: Promise<Void>? = state.withLock { state in
            guard state.count > 0 else { return nil }
            if state.idle == nil { state.idle = Promise() }
            return state.idle
        }
        _ = await idle?.wait()
    }
}

/// A local job's place in the queue: `start` says whether it got a slot; `done` frees it.
final class LocalTicket: Sendable {
    let start = Promise<Bool>()
    let done = Promise<Void>()
}

/// The provider stopped before a local job got a slot.
public struct LocalJobRefused: Error, Sendable, CustomStringConvertible {
    public var description: String { "the daemon is shutting down and takes no new jobs" }
}

extension Array where Element == JSON.Member {
    /// The first member of each key (params may repeat a name, `stop` for one).
    func uniqued() -> [JSON.Member] {
        var seen = Set<String>()
        return filter { seen.insert($0.key).inserted }
    }
}
