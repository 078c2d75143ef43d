import CoreMetrics
import Logging
import NostrCore
import PylonAsync
import PylonStore
import RelayPool
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ProviderService {
    /// After a crash or a stop, every job left open ends with exactly one result or error
    /// (SPEC §8): a job whose result (or error) is already on the relays is closed with it; one
    /// too old to matter fails with a reason; the rest run again.
    func recover() async {
        let open: [Job]
        do {
            let unfinished = try store.unfinishedJobs()
            resumePayments(unfinished.filter { $0.status == .awaitingPayment })
            open = unfinished.filter { $0.status == .queued || $0.status == .running }
        } catch {
            logger.error("cannot read unfinished jobs; none recovered", metadata: ["error": "\(error)"])
            return
        }
        guard !open.isEmpty else { return }
        logger.info("recovering jobs left open", metadata: ["jobs": "\(open.count)"])
        // What was answered can only be learned from the relays: wait for one.
        while !(await pool.awaitConnected(1, timeout: .seconds(1))) {
            if isStopping || Task.isCancelled { return }
        }
        let answered = await answers(to: open)
        let now = Self.now
        let configuration = configuration
        for job in open {
            guard let event = try? job.requestEvent() else {
                record { try store.fail(jobID: job.id, reason: "the stored request could not be read back") }
                continue
            }
            var request = JobRequest(event: event)
            if request.isEncrypted { try? request.decrypt(with: keypair.secretKey) }
            // Taken up in the phase the store left it in; a job this run already knows is not ours to recover.
            guard jobs.withLock({ $0.insert(request, phase: JobPhase(resuming: job.status)) }) else { continue }
            let reference = RequestReference(request)
            if let answer = answered[job.id] {
                close(job, with: answer, reference: reference)
                continue
            }
            let age = now - event.createdAt
            if age > configuration.maxRequestAge + configuration.jobTimeout.components.seconds {
                failJob(reference, reason: "the provider restarted and the request, \(age) s old, is now too old to run")
                continue
            }
            if job.status == .running {
                guard advance(job.id, to: .queued, record: { try store.requeue(jobID: job.id, reason: "the daemon stopped while the job ran") }) != nil
                else { continue }
            }
            schedule(request)
        }
    }

    /// Our results and error feedback already on the relays for these jobs, by job id.
    private func answers(to jobs: [Job]) async -> [EventID: Event] {
        var found: [EventID: Event] = [:]
        for chunk in stride(from: 0, to: jobs.count, by: 100).map({ Array(jobs[$0..<min($0 + 100, jobs.count)]) }) {
            let kinds = Set(chunk.map { Kind($0.kind.rawValue + 1000) } + [.jobFeedback])
            let filter = Filter(authors: [keypair.publicKey], kinds: kinds, tags: ["e": Set(chunk.map(\.id.hex))])
            for event in await pool.fetch([filter], timeout: .seconds(5)) {
                if let result = try? JobResult(event: event) {
                    // A result wins over an error: it is what the customer has.
                    found[result.request] = event
                } else if let feedback = try? JobFeedback(event: event), feedback.status == .error, found[feedback.request] == nil {
                    found[feedback.request] = event
                }
            }
        }
        return found
    }

    private func close(_ job: Job, with answer: Event, reference: RequestReference) {
        if answer.kind.isJobResult {
            let recorded = advance(job.id, to: .answered) {
                if job.status == .queued { try store.start(jobID: job.id, model: job.requestedModel ?? "unknown", backend: "unknown") }
                try store.complete(jobID: job.id, JobCompletion(resultEventID: answer.id, outputBytes: answer.content.utf8.count, durationMs: 0))
            }
            guard recorded != nil else { return }
            metrics.completed.increment()
            send(feedback: .success, to: reference)
            logger.info("recovered a job already answered", metadata: ["job.id": "\(job.id)", "job.result": "\(answer.id)"])
        } else {
            let reason = (try? JobFeedback(event: answer))?.extra ?? "the job failed before a restart"
            guard advance(job.id, to: .failed, record: { try store.fail(jobID: job.id, reason: reason) }) != nil else { return }
            metrics.failed.increment()
        }
    }

    private func record(_ change: () throws -> Void) {
        do {
            try change()
        } catch {
            logger.error("cannot record a recovered job", metadata: ["error": "\(error)"])
        }
    }
}
