import Buyer
public import Logging
public import NostrCore
import Payments
import PylonAsync
import PylonBasics
public import PylonStore
public import RelayPool

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An agent's own process (`pylon __agent NAME`, started by the supervisor): its lifecycle from
/// its funds, and a tick every interval while it is funded (or free). It reads its row again
/// before each tick, so `fund`, `stop` and `delete` reach it; it ends when the row says stopped or
/// is gone, when its task is cancelled (SIGTERM), or when the daemon that started it is gone.
public struct AgentRunner: Sendable {
    public let name: String
    public let keypair: Keypair
    public let relays: [RelayURL]
    public let store: PylonStore
    public let wallet: WalletConnectURI?
    public let logger: Logger

    /// How often an agent that does not tick (unfunded, dormant) looks at its wallet again, at most.
    public static let fundingCheck: Duration = .seconds(10)

    public init(name: String, keypair: Keypair, relays: [RelayURL], store: PylonStore, wallet: WalletConnectURI?, logger: Logger) {
        self.name = name
        self.keypair = keypair
        self.relays = relays
        self.store = store
        self.wallet = wallet
        self.logger = logger
    }

    /// Why the agent's process ends on its own.
    public enum Ending: Sendable, Equatable {
        case stopped
        case deleted
        case orphaned
        case cancelled
    }

    /// Runs until the agent is stopped or deleted, the daemon is gone, or the task is cancelled.
    public func run() async throws -> Ending {
        let parent = Parent(pid: getppid())
        while true {
            do {
                return try await BuyerSession.run(keypair: keypair, relays: relays, store: store, connectTimeout: .seconds(30), logger: logger) { session in
                    if let wallet {
                        return try await WalletClient.withConnection(wallet, logger: logger) { client in
                            await loop(session: session, wallet: client, parent: parent)
                        }
                    }
                    return await loop(session: session, wallet: nil, parent: parent)
                }
            } catch let error as BuyerError where error.code == .noRelay {
                // No relay yet (the network is down, say): an agent waits for one rather than
                // crash, and still ends with its daemon.
                logger.warning("the agent reaches no relay; trying again", metadata: ["agent": "\(name)", "error": "\(error.message)"])
                if await !sleep(.seconds(30), parent: parent) { return Task.isCancelled ? .cancelled : .orphaned }
            }
        }
    }

    private func loop(session: BuyerSession, wallet: WalletClient?, parent: Parent) async -> Ending {
        logger.info("agent running", metadata: ["agent": "\(name)", "npub": "\(keypair.publicKey.npub)"])
        // Start-up's pages are given back before the first long sleep, a tick's after it.
        var busy = true
        while !Task.isCancelled {
            guard let agent = try? store.agent(name: name) else { return .deleted }
            if agent.state == .stopped { return .stopped }
            let state = await fundingState(agent, wallet: wallet)
            if state != agent.state {
                _ = try? store.setAgentState(name: name, to: state, reason: Self.reason(for: state, budget: agent.tickBudgetMsats))
                logger.info("agent state changed", metadata: ["agent": "\(name)", "from": "\(agent.state)", "to": "\(state)"])
            }
            let interval = Duration.seconds(agent.heartbeatSecs)
            var wait = min(interval, Self.fundingCheck)
            if AgentFunding.ticks(in: state) {
                let last = (try? store.ticks(agentName: name, limit: 1))?.first?.startedAt
                let due = last.map { $0.addingTimeInterval(TimeInterval(agent.heartbeatSecs)) } ?? .distantPast
                if due <= Date() {
                    let tick = AgentTick(
                        agent: agent, keypair: keypair, session: session, wallet: wallet, since: last ?? agent.createdAt,
                        answerTimeout: min(.seconds(60), max(interval, .seconds(15))), logger: logger)
                    let row = await tick.run()
                    do {
                        try store.recordTick(row)
                    } catch {
                        logger.error("cannot record a tick", metadata: ["agent": "\(name)", "error": "\(error)"])
                    }
                    logger.info(
                        "agent ticked",
                        metadata: ["agent": "\(name)", "outcome": "\(row.outcome)", "note": "\(row.note ?? "")", "cost_msats": "\(row.costMsats)"])
                    wait = interval
                    busy = true
                } else {
                    wait = .seconds(max(1, due.timeIntervalSinceNow))
                }
            }
            if busy {
                busy = false
                let released = CleanPages.release()
                logger.debug("gave back clean pages", metadata: ["agent": "\(name)", "mappings": "\(released.mappings)", "kib": "\(released.kibibytes)"])
            }
            if await !sleep(wait, parent: parent) { return Task.isCancelled ? .cancelled : .orphaned }
        }
        return .cancelled
    }

    /// The agent's state from its wallet (it records the balance it saw).
    func fundingState(_ agent: Agent, wallet: WalletClient?) async -> AgentState {
        var balance: Int64?
        if let wallet {
            do {
                balance = try await wallet.getBalance()
                try? store.setAgentBalance(name: name, msats: balance)
            } catch {
                logger.warning("the agent's wallet did not answer", metadata: ["agent": "\(name)", "error": "\(error)"])
                return agent.state == .spawning || agent.state == .stopped ? .spawning : agent.state
            }
        }
        let ticks = (try? store.ticks(agentName: name, limit: 20)) ?? []
        let paid = ticks.filter { $0.costMsats > 0 }
        let average = paid.isEmpty ? nil : paid.reduce(0) { $0 + $1.costMsats } / Int64(paid.count)
        return AgentFunding.state(
            budgetMsats: agent.tickBudgetMsats, balanceMsats: balance, averageTickCostMsats: average, intervalSecs: agent.heartbeatSecs,
            hasSpent: !paid.isEmpty)
    }

    static func reason(for state: AgentState, budget: Int64) -> String {
        switch state {
        case .active: budget == 0 ? "buys only from free providers" : "funded"
        case .lowBalance: "less than 7 days of ticks left in its wallet"
        case .dormant: "its wallet is empty"
        case .spawning: "waiting for funds"
        case .stopped: "stopped"
        }
    }

    /// The daemon that started this process: watched through a pidfd where the system has them.
    struct Parent: Sendable {
        let pid: pid_t
        let gone: Promise<Void>?

        init(pid: pid_t) {
            self.pid = pid
            gone = ProcessWatch.whenGone(pid)
        }

        /// Handed to another parent: the daemon is gone.
        var isGone: Bool { gone?.current != nil || getppid() != pid }
    }

    /// Sleeps for `duration`; false when the daemon that started this process is gone or the task
    /// was cancelled. With a watch on the daemon it wakes only at the end (or when the daemon
    /// goes); without one, once a second to look.
    private func sleep(_ duration: Duration, parent: Parent) async -> Bool {
        if let gone = parent.gone {
            _ = await gone.wait(timeout: duration)
            return !Task.isCancelled && !parent.isGone
        }
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            do {
                try await Task.sleep(for: min(.seconds(1), end - ContinuousClock.now))
            } catch {
                return false
            }
            if parent.isGone { return false }
        }
        return true
    }
}
