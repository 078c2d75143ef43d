import Backends
import Synchronization
import CoreMetrics
import Crypto
import Foundation
import NostrCore
import PylonAsync
import RelayPool

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
        SHA256.hash(data: Data(("pylon-handler:" + keypair.publicKey.hex).utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    func handlerInformation(_ configuration: ProviderConfiguration, models: [String], createdAt: Int64) -> Event {
        var params: [JSON.Member] = [
            .init("model", Self.param("the model to run", values: models)),
            .init("max_tokens", Self.param("the most tokens to generate")),
            .init("temperature", Self.param("sampling temperature, 0 to 2")),
            .init("top_p", Self.param("nucleus sampling, 0 to 1")),
            .init("top_k", Self.param("top-k sampling")),
            .init("frequency_penalty", Self.param("penalty for repeated tokens")),
            .init("stop", Self.param("a stop sequence; repeat the param for more")),
        ]
        if configuration.kinds.contains(JobPrompt.translation) {
            params.append(.init("language", Self.param("translation: the target language (ISO 639-1)")))
        }
        if configuration.kinds.contains(JobPrompt.summarization) {
            params.append(.init("length", Self.param("summarization: how long, such as \"3 sentences\"")))
        }
        var content: [JSON.Member] = [
            .init("name", .string(configuration.name)),
            .init("about", .string(configuration.about)),
            .init("supportsEncryption", .bool(true)),
            .init("nip90Params", .object(params)),
        ]
        if configuration.priceMsats > 0 { content.append(.init("amount", .string(String(configuration.priceMsats)))) }
        let tags: [Tag] = [["d", handlerIdentifier]] + configuration.kinds.map { ["k", String($0.rawValue)] }
        return UnsignedEvent(
            pubkey: keypair.publicKey, createdAt: createdAt, kind: .handlerInformation, tags: tags, content: JSON.object(content).serialized
        ).sign(with: keypair)
    }

    func heartbeat(_ configuration: ProviderConfiguration, models: [String]) -> Event {
        let snapshot = scheduler.snapshot()
        let status = models.isEmpty ? "unavailable" : (scheduler.hasRoom ? "ready" : "busy")
        let content = JSON.object([
            .init("status", .string(status)), .init("queued", .integer(Int64(snapshot.queued.count))),
            .init("running", .integer(Int64(snapshot.running.count))), .init("slots", .integer(Int64(snapshot.slots))),
            .init("models", .array(models.map(JSON.string))),
        ])
        let now = Self.now
        let tags: [Tag] =
            [["d", handlerIdentifier], ["status", status]] + configuration.kinds.map { ["k", String($0.rawValue)] }
            + [["expiration", String(now + 2 * configuration.heartbeatInterval.components.seconds)]]
        return UnsignedEvent(pubkey: keypair.publicKey, createdAt: now, kind: .heartbeat, tags: tags, content: content.serialized)
            .sign(with: keypair)
    }

    private static func param(_ description: String, values: [String] = []) -> JSON {
        .object([.init("required", .bool(false)), .init("values", .array(values.map(JSON.string))), .init("description", .string(description))])
    }
}
