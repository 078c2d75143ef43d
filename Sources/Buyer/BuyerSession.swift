public import Logging
public import NostrCore
public import PylonBasics
public import PylonStore
public import RelayPool

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A buyer at work (SPEC §3 `pylon job`, and the agents of host mode): a relay pool connected for
/// the session, requests published and followed, every step kept in pylon.db's history. The CLI
/// parses arguments and prints; this does the rest.
public struct BuyerSession: Sendable {
    public let buyer: Buyer
    /// The history; nil for a session that only looks (`pylon job providers`).
    public let store: PylonStore?
    public var pool: RelayPool { buyer.pool }

    /// A request on its way: the signed event, its history record, and its feedback and results
    /// (the subscription was open before the request went out, so no fast answer is missed).
    public struct Submission: Sendable {
        public let request: Event
        public var job: BuyerJob
        public let updates: AsyncStream<BuyerUpdate>
        /// Ends the subscription.
        public let close: @Sendable () -> Void
    }

    /// Where a followed job ended.
    public struct Outcome: Sendable {
        public var job: BuyerJob
        /// Set when the addressed provider asks to be paid first.
        public var paymentRequired: JobAmount?
    }

    /// Runs `body` with a pool on `relays` for `keypair`, once at least one relay is connected;
    /// throws when none is within `connectTimeout`. The pool stops when `body` returns.
    public static func run<R: Sendable>(
        keypair: Keypair, relays: [RelayURL], store: PylonStore?, connectTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "pylon.buyer"), _ body: @Sendable (BuyerSession) async throws -> R
    ) async throws -> R {
        let pool = RelayPool(configuration: RelayPool.Configuration(relays: relays), keypair: keypair, logger: logger)
        let session = BuyerSession(buyer: Buyer(keypair: keypair, pool: pool), store: store)
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                try? await pool.run()
                return nil
            }
            defer { group.cancelAll() }
            guard await pool.awaitConnected(1, timeout: connectTimeout) else {
                let reasons = pool.statuses.map { "\($0.url): \($0.lastError ?? $0.state.rawValue)" }.joined(separator: "; ")
                throw BuyerError(.noRelay, "cannot reach any relay within \(connectTimeout.components.seconds) s (\(reasons))")
            }
            return try await body(session)
        }
    }

    /// Signs and publishes a request and records it (`submitted`, with the relays that took it).
    public func submit(_ order: JobOrder) async throws(BuyerError) -> Submission {
        let request = try buyer.request(order)
        let (updates, close) = buyer.updates(for: request)
        let report = await pool.publish(request, waitForAll: false)
        guard report.succeeded else {
            close()
            throw BuyerError(.notAccepted, "no relay accepted the request: \(report.failureSummary)")
        }
        var job = BuyerJob(
            id: request.id, kind: request.kind, provider: order.provider, prompt: order.prompt,
            params: JSON.object(order.params.map { JSON.Member($0.key, .string($0.value)) }), bidMsats: order.bidMsats, encrypted: order.encrypt,
            relays: report.acceptedBy.map(\.string), createdAt: Date())
        save(&job)
        return Submission(request: request, job: job, updates: updates, close: close)
    }

    /// Follows a submitted job until its result, an error or a payment request from the provider
    /// it addressed (an open request may still be answered by another), or `timeout`; each
    /// feedback is recorded and handed to `onFeedback` as it comes.
    ///
    /// With `pay`, a payment request from the addressed provider is handed to it: when it pays
    /// (returns true) the job is followed on to its result.
    public func follow(
        _ submission: Submission, timeout: Duration, onFeedback: @escaping @Sendable (JobFeedback, PublicKey) -> Void = { _, _ in },
        pay: (@Sendable (inout BuyerJob, JobAmount) async -> Bool)? = nil
    ) async -> Outcome {
        let targeted = submission.job.provider
        let start = submission.job
        let updates = submission.updates
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                var job = start
                for await update in updates {
                    if let targeted, update.provider != targeted { continue }
                    switch update.content {
                    case .feedback(let feedback):
                        job.feedback.append(
                            BuyerFeedback(
                                status: feedback.status, provider: update.provider,
                                message: feedback.status == .partial ? feedback.content : (feedback.extra ?? (feedback.content.isEmpty ? nil : feedback.content)),
                                amountMsats: feedback.amount?.msats, bolt11: feedback.amount?.bolt11, time: Date()))
                        onFeedback(feedback, update.provider)
                        switch feedback.status {
                        case .processing, .partial:
                            if job.status == .submitted { job.status = .processing }
                        case .paymentRequired:
                            job.status = .paymentRequired
                            if targeted != nil {
                                save(&job)
                                let amount = feedback.amount ?? JobAmount(msats: 0)
                                guard let pay, await pay(&job, amount) else { return Outcome(job: job, paymentRequired: amount) }
                                job.status = .processing
                            }
                        case .error:
                            if targeted != nil {
                                job.status = .error
                                job.error = feedback.extra ?? "the provider reported an error"
                                save(&job)
                                return Outcome(job: job)
                            }
                        case .success:
                            break
                        }
                        save(&job)
                    case .result(let result):
                        job.status = .completed
                        job.result = result.content
                        job.resultEventID = update.event.id
                        job.answeredBy = update.provider
                        save(&job)
                        return Outcome(job: job)
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first { return first }
            // Timed out: the latest state of the job, from the store.
            var job = (try? store?.buyerJob(id: start.id)) ?? start
            let errors = job.feedback.filter { $0.status == .error }.compactMap(\.message)
            job.status = .timeout
            job.error = "no result within \(timeout.components.seconds) s" + (errors.isEmpty ? "" : "; providers said: " + errors.joined(separator: "; "))
            save(&job)
            return Outcome(job: job)
        }
    }

    /// The job with its result from the relays when the history has none yet (recorded).
    public func lookUpResult(_ job: BuyerJob) async -> BuyerJob {
        guard job.result == nil, let update = await buyer.findResult(for: job.id, kind: job.kind), case .result(let result) = update.content else {
            return job
        }
        var job = job
        job.result = result.content
        job.resultEventID = update.event.id
        job.answeredBy = update.provider
        job.status = .completed
        save(&job)
        return job
    }

    /// Records the job; what the store gives back (its `updatedAt`) replaces it.
    public func save(_ job: inout BuyerJob) {
        if let saved = try? store?.saveBuyerJob(job) { job = saved }
    }
}
