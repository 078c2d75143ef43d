import Backends
import ControlProtocol
import Host
import NostrCore
import Provider
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

/// Answers control-socket requests for the running daemon (SPEC §5, §12).
final class DaemonControlHandler: ControlHandler, Sendable {
    private let attached = Mutex<PylonDaemon?>(nil)

    var daemon: PylonDaemon? { attached.withLock { $0 } }

    func attach(_ daemon: PylonDaemon) { attached.withLock { $0 = daemon } }

    func handle(_ request: ControlRequest, reply: ControlReply) async throws {
        guard let daemon else {
            try await reply(.error("the daemon is still starting; try again in a moment"))
            return
        }
        switch request {
        case .ping:
            // Pong once every endpoint is up (a start waits for it); a few seconds at most.
            _ = await daemon.httpListening.wait(timeout: .seconds(5))
            try await reply(.pong)
        case .status:
            try await reply(.status(await daemon.status()))
        case .shutdown:
            try await reply(.ok)
            await daemon.shutdown()
        case .reload:
            try await reply(await daemon.reloader.reload(.command).controlResponse)
        case .dumpState:
            try await reply(.state(daemon.dumpState()))
        case .events(let since):
            let records: [JournalRecord]
            do {
                records = try daemon.store.journal(since: Int64(clamping: since), limit: 10_000)
            } catch {
                try await reply(.error("cannot read the journal: \(error.message)"))
                return
            }
            try await reply(.events(records.map(JournalEntry.init)))
        case .submitJob(let job):
            try await submit(job, daemon: daemon, reply: reply)
        case .agents:
            do {
                try await reply(.agents(try daemon.agentReports()))
            } catch {
                try await reply(.error("cannot read the agents: \((error as? PylonStoreError)?.message ?? "\(error)")"))
            }
        case .agentChanged(let name):
            guard let host = daemon.host else {
                try await reply(.error("this daemon runs in provider mode and hosts no agents; start it with --mode host or both"))
                return
            }
            host.agentChanged(name)
            try await reply(.ok)
        }
    }

    /// Runs a local job (the seed's `ipc` interface): `Token` lines as the backend produces them
    /// when `stream` is set, then `JobResult` (or `Error`) last.
    private func submit(_ job: SubmitJob, daemon: PylonDaemon, reply: ControlReply) async throws {
        guard let provider = daemon.provider else {
            try await reply(.error("this daemon runs in host mode without inference backends; start it with --mode provider or both"))
            return
        }
        // Through the scheduler: a local job waits for a slot like any other (SPEC §3 `infer`).
        do {
            try await provider.runLocal {
                try await self.run(job, daemon: daemon, reply: reply)
            }
        } catch let busy as SchedulerBusy {
            try await reply(.error(busy.description))
        } catch let refused as LocalJobRefused {
            try await reply(.error(refused.description))
        }
    }

    private func run(_ job: SubmitJob, daemon: PylonDaemon, reply: ControlReply) async throws {
        let result: LocalJobResult
        do {
            result = try await LocalInference.run(job, on: daemon.backends) { token in
                if job.stream { try await reply(.token(token)) }
            }
        } catch let error as BackendError {
            try await reply(.error(error.message))
            return
        }
        try await reply(.jobResult(result))
    }
}
