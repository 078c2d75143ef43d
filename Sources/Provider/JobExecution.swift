import AsyncHTTPClient
import Backends
import CoreMetrics
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NostrCore
import PylonAsync
import PylonBasics
import PylonStore
import RelayPool
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A job that cannot be done, with the reason the customer reads.
struct JobFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
}

extension ProviderService {
    /// Runs one admitted job in its slot: route, start, `processing`, inputs, inference with
    /// `partial` feedback, then the result and `success`, or `error` on any failure path. A job
    /// that started when it was admitted comes with its route (`startedOn`).
    func execute(_ request: JobRequest, startedOn: BackendRoute? = nil, control: JobControl) async {
        let reference = RequestReference(request)
        let configuration = configuration
        let parameters = (try? request.parameters()) ?? JobParameters()
        let route: BackendRoute
        if let startedOn {
            route = startedOn
        } else {
            do {
                route = try backends.route(model: parameters.model)
            } catch {
                failJob(request, reason: error.message)
                return
            }
            guard advance(request.id, to: .running, route: route, record: { try store.start(jobID: request.id, model: route.model, backend: route.backendName) }) != nil
            else { return }
        }
        logger.trace("job started", metadata: ["job.id": "\(request.id)", "job.model": "\(route.model)"])
        send(feedback: .processing, extra: "running on \(route.model)", to: reference)
        let started = ContinuousClock.now
        let partials = PartialOutput(interval: configuration.partialInterval)
        let outcome = await JobScheduler.race(control, timeout: configuration.jobTimeout) {
            let texts = try await self.resolveInputs(request, limit: configuration.maxInputBytes)
            // The job's deadline is the race's; the backend keeps its own limits for a stuck server.
            let inference = InferenceRequest(
                messages: JobPrompt.messages(kind: request.event.kind, texts: texts, parameters: parameters), model: route.model,
                sampling: parameters.sampling)
            let summary = try await self.backends.generate(inference, on: route) { token in
                if let chunk = partials.append(token) {
                    self.send(feedback: .partial, content: chunk, to: reference)
                }
            }
            return summary
        }
        let elapsed = ContinuousClock.now - started
        logger.trace("job inference ended", metadata: ["job.id": "\(request.id)"])
        switch outcome {
        case .value(let summary):
            deliver(partials.output, summary: summary, for: reference, elapsed: elapsed)
        case .failed(let error):
            let reason = (error as? BackendError)?.message ?? (error as? JobFailure)?.message ?? "the job failed: \(error)"
            failJob(request, reason: reason)
        case .timedOut:
            failJob(request, reason: "the job took longer than this provider's limit of \(configuration.jobTimeout.components.seconds) s")
        case .cancelled(let reason):
            if reason == Self.shutdownReason {
                failJob(request, reason: reason)
            } else {
                cancelJob(reference, reason: reason)
            }
        }
        metrics.duration.record(duration: elapsed)
    }

    /// Hands the result to the relays and returns: the job's slot is free for the next one while
    /// the relays answer. The first relay to accept it completes the job (recorded, then
    /// `success`); if none does, the job fails with their reasons. A crash in between leaves the
    /// job running in the store, and recovery finds the result on the relays.
    private func deliver(_ output: String, summary: InferenceSummary, for reference: RequestReference, elapsed: Duration) {
        let configuration = configuration
        let result: Event
        do {
            result = try responder.result(output: output, for: reference, amountMsats: configuration.priceMsats > 0 ? configuration.priceMsats : nil, now: Self.now)
        } catch {
            failJob(reference, reason: error.message)
            return
        }
        let completion = JobCompletion(
            resultEventID: result.id, promptTokens: summary.promptTokens, completionTokens: summary.completionTokens,
            outputBytes: output.utf8.count, durationMs: Int(elapsed.milliseconds))
        unanswered.add()
        pool.publish(result, extraRelays: Self.relayURLs(reference.relays), waitForAll: false) { report in
            defer { self.unanswered.remove() }
            guard report.succeeded else {
                self.failJob(reference, reason: "no relay accepted the result (\(report.failureSummary))")
                return
            }
            self.complete(reference, completion)
        }
        logger.trace("job result handed to the relays", metadata: ["job.id": "\(reference.id)"])
    }

    /// Records a job whose result a relay accepted, then says `success`.
    private func complete(_ reference: RequestReference, _ completion: JobCompletion) {
        guard advance(reference.id, to: .answered, record: { try store.complete(jobID: reference.id, completion) }) != nil else { return }
        metrics.completed.increment()
        send(feedback: .success, to: reference)
        logger.debug("job completed", metadata: ["job.id": "\(reference.id)", "job.result": "\(completion.resultEventID)"])
    }

    /// Records the failure and tells the customer why.
    func failJob(_ request: JobRequest, reason: String) {
        failJob(RequestReference(request), reason: reason)
    }

    func failJob(_ reference: RequestReference, reason: String) {
        guard advance(reference.id, to: .failed, record: { try store.fail(jobID: reference.id, reason: reason) }) != nil else { return }
        metrics.failed.increment()
        logger.info("job failed", metadata: ["job.id": "\(reference.id)", "job.reason": "\(reason)"])
        send(feedback: .error, extra: reason, to: reference)
    }

    func cancelJob(_ reference: RequestReference, reason: String) {
        guard advance(reference.id, to: .cancelled, record: { try store.cancel(jobID: reference.id, reason: reason) }) != nil else { return }
        metrics.cancelled.increment()
        logger.info("job cancelled", metadata: ["job.id": "\(reference.id)", "job.reason": "\(reason)"])
        send(feedback: .error, extra: reason, to: reference)
    }

    // MARK: Inputs

    /// Each input as text: literal text as is, `event` inputs fetched from the relays (and the
    /// input's relay hint), `job` inputs once that job's result appears, `url` inputs over HTTP.
    func resolveInputs(_ request: JobRequest, limit: Int) async throws -> [String] {
        var texts: [String] = []
        var total = 0
        for input in request.inputs {
            let text: String
            switch input.type {
            case .text:
                text = input.value
            case .event:
                text = try await fetchEvent(input)
            case .job:
                text = try await awaitJobResult(input)
            case .url:
                text = try await fetchURL(input.value, limit: limit)
            case .other(let name):
                throw JobFailure("input type \"\(name)\" is not one of text, prompt, event, job, url")
            }
            total += text.utf8.count
            guard total <= limit else {
                throw JobFailure("the input is more than \(limit) bytes once fetched; this provider takes at most \(limit)")
            }
            texts.append(text)
        }
        return texts
    }

    private func hintRelays(_ input: JobInput) -> [RelayURL]? {
        guard !input.relay.isEmpty, let hint = try? RelayURL(input.relay) else { return nil }
        var relays = pool.relays
        if !relays.contains(hint) { relays.append(hint) }
        return relays
    }

    private func fetchEvent(_ input: JobInput) async throws -> String {
        let id = try EventID(hex: input.value)
        let events = await pool.fetch([Filter(ids: [id], limit: 1)], relays: hintRelays(input), timeout: configuration.inputFetchTimeout)
        guard let event = events.first(where: { $0.id == id }) else {
            throw JobFailure("input event \(input.value) was not found on this provider's relays")
        }
        return event.content
    }

    /// Waits for the result of another job (chaining), within the job's deadline.
    private func awaitJobResult(_ input: JobInput) async throws -> String {
        let filter = Filter(tags: ["e": [input.value]])
        let subscription = pool.subscribe([filter], relays: hintRelays(input))
        defer { subscription.close() }
        for await item in subscription.events {
            guard case .event(let event, _) = item, let result = try? JobResult(event: event), result.request.hex == input.value else { continue }
            if result.encryption != nil {
                throw JobFailure("the result of job \(input.value) is encrypted for its customer and cannot be used as input")
            }
            return result.content
        }
        try Task.checkCancellation()
        throw JobFailure("stopped waiting for the result of job \(input.value)")
    }

    private func fetchURL(_ url: String, limit: Int) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        } catch {
            throw JobFailure("cannot fetch the url input \(url): \(error)")
        }
        guard response.status.code == 200 else {
            throw JobFailure("the url input \(url) answered HTTP \(response.status.code)")
        }
        let type = response.headers.first(name: "content-type")?.lowercased() ?? "text/plain"
        guard type.hasPrefix("text/") || type.contains("json") || type.contains("xml") else {
            throw JobFailure("the url input \(url) is \(type), not text")
        }
        var body = ByteBuffer()
        for try await var chunk in response.body {
            guard body.readableBytes + chunk.readableBytes <= limit else {
                throw JobFailure("the url input \(url) is more than \(limit) bytes")
            }
            body.writeBuffer(&chunk)
        }
        return String(buffer: body)
    }
}

/// Streamed output: all of it for the result, and chunks for `partial` feedback no more often
/// than the interval (so relays do not rate-limit the provider).
final class PartialOutput: Sendable {
    private struct State {
        var output = ""
        var unsent = ""
        var lastSent = ContinuousClock.now
    }

    private let state = Mutex(State())
    private let interval: Duration

    init(interval: Duration) {
        self.interval = interval
    }

    /// Adds a token; returns the text to send as `partial` feedback when the interval has passed.
    func append(_ token: String) -> String? {
        state.withLock { state in
            state.output += token
            state.unsent += token
            let now = ContinuousClock.now
            guard now - state.lastSent >= interval, !state.unsent.isEmpty else { return nil }
            state.lastSent = now
            defer { state.unsent = "" }
            return state.unsent
        }
    }

    var output: String { state.withLock { $0.output } }
}
