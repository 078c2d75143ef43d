import Backends
import Synchronization
import CoreMetrics
import Crypto
import NostrCore
import PylonAsync
import RelayPool

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ProviderService {
    /// Discovery (SPEC §8): NIP-89 handler information (kind 31990) at start, every six hours,
    /// when the announcement or the models change; the heartbeat (kind 11998) every five minutes,
    /// expiring after two intervals so a stopped provider drops out on its own.
    func announce() async {
        var lastHandler: ContinuousClock.Instant?
        var lastHeartbeat: ContinuousClock.Instant?
        var announcedModels: [String]?
        var lastCreatedAt: Int64 = 0
        let started = ContinuousClock.now
        while !isStopping && !Task.isCancelled {
            let configuration = configuration
            let models = await servedModels()
            // The first announcement waits (a little) for the backends' first detection, so it
            // lists the models.
            if configuration.announce && (!models.isEmpty || ContinuousClock.now - started > .seconds(10)) {
                let now = ContinuousClock.now
                let due = lastHandler.map { now - $0 >= configuration.announceInterval } ?? true
                if announceRequested.exchange(false, ordering: .relaxed) || due || models != announcedModels {
                    // A replaceable event replaces an older one only with a later created_at.
                    lastCreatedAt = max(Self.now, lastCreatedAt + 1)
                    send(handlerInformation(configuration, models: models, createdAt: lastCreatedAt), relays: [])
                    metrics.announcements.increment()
                    lastHandler = now
                    announcedModels = models
                }
                if lastHeartbeat.map({ now - $0 >= configuration.heartbeatInterval }) ?? true {
                    send(heartbeat(configuration, models: models), relays: [])
                    metrics.heartbeats.increment()
                    lastHeartbeat = now
                }
            }
            try? await LoopTimer.sleep(for: .seconds(1))
        }
    }

    private func servedModels() async -> [String] {
        await backends.status().filter { $0.state == .ready }.flatMap(\.models)
    }

    /// The stable `d` tag: the same for this identity across restarts and config changes.
    var handlerIdentifier: String {
        Hex.encode(SHA256.hash(data: Data(("pylon-handler:" + keypair.publicKey.hex).utf8)).prefix(8))
    }

    func handlerInformation(_ configuration: ProviderConfiguration, models: [String], createdAt: Int64) -> Event {
        var params: [HandlerInformation.Param] = [
            .init("model", description: "the model to run", values: models),
            .init("max_tokens", description: "the most tokens to generate"),
            .init("temperature", description: "sampling temperature, 0 to 2"),
            .init("top_p", description: "nucleus sampling, 0 to 1"),
            .init("top_k", description: "top-k sampling"),
            .init("frequency_penalty", description: "penalty for repeated tokens"),
            .init("stop", description: "a stop sequence; repeat the param for more"),
        ]
        if configuration.kinds.contains(JobPrompt.translation) {
            params.append(.init("language", description: "translation: the target language (ISO 639-1)"))
        }
        if configuration.kinds.contains(JobPrompt.summarization) {
            params.append(.init("length", description: "summarization: how long, such as \"3 sentences\""))
        }
        let information = HandlerInformation(
            identifier: handlerIdentifier, kinds: configuration.kinds, name: configuration.name, about: configuration.about,
            supportsEncryption: true, params: params, amountMsats: configuration.priceMsats > 0 ? configuration.priceMsats : nil)
        return information.unsignedEvent(author: keypair.publicKey, createdAt: createdAt).sign(with: keypair)
    }

    func heartbeat(_ configuration: ProviderConfiguration, models: [String]) -> Event {
        let snapshot = scheduler.snapshot()
        let now = Self.now
        let beat = ProviderHeartbeat(
            identifier: handlerIdentifier, kinds: configuration.kinds,
            status: models.isEmpty ? .unavailable : (scheduler.hasRoom ? .ready : .busy), queued: snapshot.queued.count,
            running: snapshot.running.count, slots: snapshot.slots, models: models,
            expiration: now + 2 * configuration.heartbeatInterval.components.seconds)
        return beat.unsignedEvent(author: keypair.publicKey, createdAt: now).sign(with: keypair)
    }
}
