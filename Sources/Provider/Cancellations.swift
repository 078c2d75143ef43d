import CoreMetrics
import NostrCore
import PylonAsync
import RelayPool
import Synchronization

extension ProviderService {
    /// Cancellation by a kind 5 deletion from the request's author (NIP-09, SPEC §8). One
    /// subscription follows the jobs in flight; it is replaced when that set changes, at most four
    /// times a second, with `since` at the oldest request so a deletion sent meanwhile is found.
    /// Between changes it sleeps: an idle provider does not wake for it.
    func watchCancellations() async {
        var version = -1
        var current: PoolSubscription?
        await withDiscardingTaskGroup { group in
            while !isStopping && !Task.isCancelled {
                let (next, items) = scheduler.inFlight()
                if next != version {
                    version = next
                    current?.close()
                    current = nil
                    if !items.isEmpty {
                        let filter = Filter(
                            kinds: [.deletion], tags: ["e": Set(items.compactMap { $0.request?.hex })],
                            since: items.compactMap(\.requestCreatedAt).min())
                        let subscription = pool.subscribe([filter])
                        current = subscription
                        group.addTask {
                            for await item in subscription.events {
                                if case .event(let event, _) = item { self.handleDeletion(event) }
                            }
                        }
                    }
                }
                // At most four new subscriptions a second, then wait for the set to change.
                do { try await LoopTimer.sleep(for: .milliseconds(250)) } catch { break }
                await scheduler.waitForChange(from: version)
            }
            current?.close()
        }
    }

    func handleDeletion(_ deletion: Event) {
        guard deletion.kind == .deletion else { return }
        let inFlight = scheduler.inFlight().items
        for tag in deletion.tags.all(named: "e") {
            guard let id = tag.value, let item = inFlight.first(where: { $0.id == id }), item.customer == deletion.pubkey else { continue }
            let reason = "cancelled by the customer (kind 5 deletion \(deletion.id.hex.prefix(12)))"
            switch scheduler.cancel(id, reason: reason) {
            case .removedFromQueue:
                if let job = jobs.withLock({ $0.entry(id) }) { cancelJob(RequestReference(job.request), reason: reason) }
                metrics.observe(scheduler)
            case .signalled, .notFound:
                break
            }
        }
    }
}
