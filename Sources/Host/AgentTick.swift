public import Buyer
public import Foundation
public import Logging
public import NostrCore
public import Payments
import PylonAsync
import PylonBasics
public import PylonStore
import RelayPool

/// One tick of an agent (SPEC §9): gather what was said to it since its last tick, buy one
/// inference on the market (a NIP-90 kind 5050 request, paid from its own wallet and never over
/// its per-tick budget), act (a kind 1 note, or a reply to the newest mention), and say what
/// happened as a row of `tick_history`. A tick that cannot buy (no provider answers, the price is
/// over the budget, the wallet refuses) records why and ends.
public struct AgentTick: Sendable {
    public let agent: Agent
    public let keypair: Keypair
    public let session: BuyerSession
    public let wallet: WalletClient?
    /// Where mentions are looked for: after the last tick (or the agent's creation).
    public let since: Date
    /// How long to wait for a provider's answer.
    public let answerTimeout: Duration
    public let logger: Logger

    /// The largest goal a request carries; a longer one ends the tick with the reason.
    public static let maxGoalBytes = 2_000
    /// The most of one mention a prompt quotes.
    public static let maxMentionBytes = 500
    /// How many mentions a tick reads (the newest).
    public static let maxMentions = 5
    /// The longest note an agent publishes.
    public static let maxNoteBytes = 2_000

    public init(
        agent: Agent, keypair: Keypair, session: BuyerSession, wallet: WalletClient?, since: Date, answerTimeout: Duration = .seconds(60),
        logger: Logger
    ) {
        self.agent = agent
        self.keypair = keypair
        self.session = session
        self.wallet = wallet
        self.since = since
        self.answerTimeout = answerTimeout
        self.logger = logger
    }

    /// Runs the tick; the row to record.
    public func run() async -> NewTick {
        let started = Date()
        let clock = ContinuousClock.now
        func tick(_ outcome: String, _ note: String, cost: Int64 = 0, provider: PublicKey? = nil, noteID: EventID? = nil) -> NewTick {
            NewTick(
                agentName: agent.name, startedAt: started, durationMs: Int((ContinuousClock.now - clock).milliseconds),
                costMsats: cost, outcome: outcome, note: note, provider: provider, noteID: noteID)
        }
        guard agent.goal.utf8.count <= Self.maxGoalBytes else {
            return tick("error", "the goal is \(agent.goal.utf8.count) bytes; a request carries at most \(Self.maxGoalBytes)")
        }
        let mentions = await self.mentions()
        let prompt = Self.prompt(name: agent.name, goal: agent.goal, mentions: mentions)
        let bought: Purchase
        do {
            bought = try await buy(prompt)
        } catch {
            return tick(error.outcome, error.reason, cost: error.costMsats, provider: error.provider)
        }
        let text = Self.note(from: bought.output)
        guard !text.isEmpty else {
            return tick("error", "the provider answered with nothing to say", cost: bought.costMsats, provider: bought.provider)
        }
        let note = Self.noteEvent(text, replyingTo: mentions.first, keypair: keypair)
        let report = await session.pool.publish(note, waitForAll: false)
        guard report.succeeded else {
            return tick(
                "error", "no relay accepted the note: \(report.failureSummary)", cost: bought.costMsats, provider: bought.provider)
        }
        let what = mentions.first.map { "replied to \($0.pubkey.npub.prefix(16))…" } ?? "published a note"
        return tick("ok", what, cost: bought.costMsats, provider: bought.provider, noteID: note.id)
    }

    // MARK: Context

    /// Kind 1 notes that mention the agent since the last tick, newest first (its own left out).
    func mentions() async -> [Event] {
        let filter = Filter(kinds: [.textNote], tags: ["p": [keypair.publicKey.hex]], since: Int64(since.timeIntervalSince1970), limit: 50)
        let found = await session.pool.fetch([filter], timeout: .seconds(3))
        var seen = Set<EventID>()
        return found.filter { $0.pubkey != keypair.publicKey && seen.insert($0.id).inserted }
            .sorted { $0.createdAt > $1.createdAt }
            .prefix(Self.maxMentions).map { $0 }
    }

    /// What the agent asks the market.
    static func prompt(name: String, goal: String, mentions: [Event]) -> String {
        var lines = ["You are \(name), an autonomous agent on Nostr."]
        if !goal.isEmpty { lines.append("Your goal: \(goal)") }
        if let newest = mentions.first {
            lines.append("Someone wrote to you:")
            for mention in mentions.reversed() {
                lines.append("- \(truncated(mention.content, to: maxMentionBytes))")
            }
            lines.append("Write one short, friendly reply to the last message (under 280 characters).")
            _ = newest
        } else {
            lines.append("Write one short note for your followers (under 280 characters).")
        }
        return lines.joined(separator: "\n")
    }

    /// The note's text: the answer trimmed, at most ``maxNoteBytes``.
    static func note(from output: String) -> String {
        truncated(output.trimmingCharacters(in: .whitespacesAndNewlines), to: maxNoteBytes)
    }

    static func noteEvent(_ text: String, replyingTo mention: Event?, keypair: Keypair) -> Event {
        var tags: [Tag] = []
        if let mention {
            tags = [["e", mention.id.hex, "", "reply"], ["p", mention.pubkey.hex]]
        }
        return UnsignedEvent(pubkey: keypair.publicKey, createdAt: Int64(Date().timeIntervalSince1970), kind: .textNote, tags: tags, content: text)
            .sign(with: keypair)
    }

    static func truncated(_ text: String, to bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var out = ""
        for character in text {
            guard out.utf8.count + character.utf8.count <= bytes - 3 else { break }
            out.append(character)
        }
        return out + "…"
    }

    // MARK: Buying

    struct Purchase {
        var output: String
        var provider: PublicKey
        var costMsats: Int64
    }

    /// Why a tick bought nothing: `outcome` is the short word of its row.
    struct Failure: Error {
        var outcome: String
        var reason: String
        var costMsats: Int64 = 0
        var provider: PublicKey?
    }

    /// One request to any provider: the first result wins. A provider that asks to be paid is
    /// paid from the agent's wallet when its price fits the budget; with a budget of 0 only free
    /// providers can answer.
    func buy(_ prompt: String) async throws(Failure) -> Purchase {
        let budget = agent.tickBudgetMsats
        let order = JobOrder(prompt: prompt, params: [("max_tokens", "160")], bidMsats: budget > 0 ? budget : nil)
        let submission: BuyerSession.Submission
        do {
            submission = try await session.submit(order)
        } catch {
            throw Failure(outcome: "error", reason: error.message)
        }
        defer { submission.close() }
        let updates = submission.updates
        let session = session
        let wallet = wallet
        let logger = logger
        let start = submission.job
        let outcome: Result<Purchase, Failure>? = await withTaskGroup(of: Result<Purchase, Failure>?.self) { group in
            group.addTask {
                var job = start
                var chosen: PublicKey?
                var paid: Int64 = 0
                var declined: [String] = []
                for await update in updates {
                    if let chosen, update.provider != chosen { continue }
                    switch update.content {
                    case .result(let result):
                        return .success(Purchase(output: result.content, provider: update.provider, costMsats: paid))
                    case .feedback(let feedback):
                        switch feedback.status {
                        case .paymentRequired:
                            guard chosen == nil else { continue }
                            let amount = feedback.amount ?? JobAmount(msats: 0)
                            guard budget > 0, let wallet else {
                                declined.append("a provider asked \(amount.msats) msats; this agent buys only from free providers")
                                continue
                            }
                            guard amount.msats <= budget else {
                                declined.append("a provider asked \(amount.msats) msats, over the budget of \(budget) msats a tick")
                                continue
                            }
                            job.provider = update.provider
                            do {
                                paid = try await session.pay(&job, amount: amount, wallet: wallet, maxMsats: budget)
                                chosen = update.provider
                                logger.info("paid a provider", metadata: ["agent": "\(start.id)", "msats": "\(paid)"])
                            } catch {
                                return .failure(Failure(outcome: "payment_failed", reason: (error as? BuyerError)?.message ?? "\(error)", provider: update.provider))
                            }
                        case .error:
                            if let chosen, chosen == update.provider {
                                return .failure(
                                    Failure(
                                        outcome: "error", reason: "the provider failed: \(feedback.extra ?? "no reason")", costMsats: paid,
                                        provider: chosen))
                            }
                            declined.append("a provider refused: \(feedback.extra ?? "no reason")")
                        default:
                            continue
                        }
                    }
                }
                return .failure(Failure(outcome: "no_provider", reason: declined.first ?? "the relays closed", costMsats: paid))
            }
            group.addTask {
                try? await Task.sleep(for: self.answerTimeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success(let purchase): return purchase
        case .failure(let failure): throw failure
        case nil:
            let paid = (try? session.store?.buyerJob(id: start.id))??.amountPaidMsats ?? 0
            throw Failure(
                outcome: "no_provider", reason: "no provider answered within \(answerTimeout.components.seconds) s", costMsats: paid)
        }
    }
}
