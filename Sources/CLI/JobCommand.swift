import ArgumentParser
import Buyer
import Daemon
import Foundation
import Logging
import NostrCore
import Payments
import PylonBasics
import PylonStore
import RelayPool
import Synchronization

/// `pylon job`: the buyer side of the market (SPEC §3).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Buy compute: submit NIP-90 jobs, follow them, find providers.",
        subcommands: [
            JobSubmitCommand.self, JobPayCommand.self, JobListCommand.self, JobStatusCommand.self, JobResultCommand.self,
            JobProvidersCommand.self,
        ])
}

/// What a buyer command works with: the identity, the relays (`--relay` or config.toml's), the
/// paths; ``run(store:_:)`` gives it a connected ``BuyerSession``.
struct BuyerContext {
    let identity: Identity
    let relays: [RelayURL]
    let paths: PylonPaths

    /// Loads the identity and the relays (`--relay` or `relays` from config.toml).
    static func load(_ paths: PylonPaths, relays override: [String]) throws -> BuyerContext {
        let identity: Identity
        do {
            identity = try IdentityStore(paths: paths).load()
        } catch {
            throw Output.fail(error.description)
        }
        var texts = override
        if texts.isEmpty {
            do {
                texts = try PylonConfiguration.load(from: paths.configFile).configuration.relays
            } catch {
                throw Output.fail(error.description)
            }
        }
        var urls: [RelayURL] = []
        for text in texts {
            do {
                let url = try RelayURL(text)
                if !urls.contains(url) { urls.append(url) }
            } catch {
                throw Output.fail("\(text) is not a relay URL: \(error.message)")
            }
        }
        guard !urls.isEmpty else { throw Output.fail("no relays: set relays in config.toml or pass --relay URL") }
        return BuyerContext(identity: identity, relays: urls, paths: paths)
    }

    /// Runs `body` in a session with a connected pool (at least one relay, within 10 s); with
    /// `store`, the session keeps the history in pylon.db.
    func run<R: Sendable>(store: Bool, _ body: @Sendable (BuyerSession) async throws -> R) async throws -> R {
        var logger = Logger(label: "pylon.buyer")
        logger.logLevel = .critical
        do {
            return try await BuyerSession.run(
                keypair: identity.keypair, relays: relays, store: store ? try openStore() : nil, logger: logger, body)
        } catch let error as BuyerError {
            throw Output.fail(error.description)
        }
    }

    func openStore() throws -> PylonStore {
        do {
            try FileManager.default.createDirectory(at: paths.runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return try PylonStore.open(path: paths.database.path)
        } catch let error as PylonStoreError {
            throw Output.fail(error.message)
        }
    }
}

/// `pylon job submit`.
struct JobSubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Publish a job request; with --wait, follow it live and print the result.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The prompt (the job's text input).")
    var prompt: String

    @Option(name: .long, help: "The job kind (5000-5999).")
    var kind: Int = 5050

    @Option(name: .long, help: "The model to ask for (param model).")
    var model: String?

    @Option(name: .customLong("param"), help: ArgumentHelp("A job param, repeatable.", valueName: "key=value"))
    var params: [String] = []

    @Option(name: .long, help: ArgumentHelp("The most you pay, in millisatoshis.", valueName: "msats"))
    var bid: Int64?

    @Option(name: .long, help: ArgumentHelp("Address one provider.", valueName: "npub"))
    var provider: String?

    @Option(name: .customLong("relay"), help: ArgumentHelp("Publish to this relay instead of config.toml's, repeatable.", valueName: "url"))
    var relays: [String] = []

    @Flag(name: .long, help: "Encrypt the input and params to the provider (NIP-44 v2; needs --provider).")
    var encrypt = false

    @Flag(name: .long, help: "Wait for the result, showing feedback as it arrives.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait waits, in seconds.", valueName: "secs"))
    var timeout: Int = 120

    @Flag(name: .long, help: "Print one JSON document (request id, feedback timeline, result).")
    var json = false

    @Flag(name: .long, help: "With --wait: pay the provider's invoice from the wallet (`pylon wallet`) when it asks, within --max-msats and --bid.")
    var autoPay = false

    @OptionGroup var limits: PaymentLimits

    func validate() throws {
        guard (5000...5999).contains(kind) else { throw ValidationError("--kind must be from 5000 to 5999") }
        if autoPay && !wait { throw ValidationError("--auto-pay needs --wait: it pays while it follows the job") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let bid, bid < 0 { throw ValidationError("--bid must not be negative") }
        if encrypt && provider == nil { throw ValidationError("--encrypt needs --provider: the request is encrypted to one provider") }
        for param in params where !param.contains("=") { throw ValidationError("--param \(param): write it as key=value") }
        if prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("the prompt is empty") }
    }

    func run() async throws {
        let context = try BuyerContext.load(global.paths, relays: relays)
        let providerKey: PublicKey?
        do {
            providerKey = try provider.map { text throws(NostrError) in try NIP19.publicKey(from: text) }
        } catch {
            throw Output.fail("--provider \(provider ?? "") is not an npub or a hex public key: \(error.message)")
        }
        let pairs: [(key: String, value: String)] =
            (model.map { [("model", $0)] } ?? [])
            + params.map { param in
                let parts = param.split(separator: "=", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }
        let order = JobOrder(
            kind: Kind(UInt16(kind)), prompt: prompt, params: pairs, bidMsats: bid, provider: providerKey,
            relays: relays, encrypt: encrypt)
        let wait = wait
        let json = json
        let timeout = timeout
        let maxMsats = limits.maxMsats
        let walletURI = autoPay ? try WalletCommand.configuredURI(context.paths) : nil
        let outcome = try await context.run(store: true) { session -> WaitOutcome in
            let submission = try await session.submit(order)
            defer { submission.close() }
            guard wait else { return WaitOutcome(job: submission.job, finished: false) }
            let progress = Progress(enabled: !json)
            progress.submitted(submission.request.id, relays: submission.job.relays)
            let spinner = progress.startSpinner()
            defer { spinner.cancel() }
            let onFeedback: @Sendable (JobFeedback, PublicKey) -> Void = { feedback, provider in progress.feedback(feedback, provider: provider) }
            guard let walletURI else {
                let followed = await session.follow(submission, timeout: .seconds(timeout), onFeedback: onFeedback)
                return WaitOutcome(job: followed.job, finished: true, paymentRequired: followed.paymentRequired, alreadyShown: progress.streamedAnswer)
            }
            // --auto-pay: the wallet is connected for the length of the job.
            let refusal = LockedReason()
            let followed = try await WalletClient.withConnection(walletURI, logger: Self.quietLogger) { wallet in
                await session.follow(submission, timeout: .seconds(timeout), onFeedback: onFeedback) { job, amount in
                    do {
                        let paid = try await session.pay(&job, amount: amount, wallet: wallet, maxMsats: maxMsats)
                        progress.write("paid \(Sats.text(paid))\n")
                        return true
                    } catch {
                        refusal.set("\(error)")
                        return false
                    }
                }
            }
            return WaitOutcome(
                job: followed.job, finished: true, paymentRequired: followed.paymentRequired, alreadyShown: progress.streamedAnswer,
                paymentRefusal: refusal.value)
        }
        try report(outcome, waited: wait)
    }

    struct WaitOutcome: Sendable {
        var job: BuyerJob
        var finished: Bool
        var paymentRequired: JobAmount? = nil
        /// Partial output already written to stdout (a terminal).
        var alreadyShown = ""
        /// Why --auto-pay did not pay.
        var paymentRefusal: String? = nil
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "pylon.payments")
        logger.logLevel = .critical
        return logger
    }

    private func report(_ outcome: WaitOutcome, waited: Bool) throws {
        let job = outcome.job
        if json {
            try Output.json(BuyerJobReport(job))
        } else if !waited {
            Output.line(job.id.hex)
        } else if let result = job.result {
            let shown = outcome.alreadyShown
            Output.line(!shown.isEmpty && result.hasPrefix(shown) ? String(result.dropFirst(shown.count)) : (shown.isEmpty ? result : "\n" + result))
        }
        guard waited else { return }
        if let payment = outcome.paymentRequired {
            if let refusal = outcome.paymentRefusal {
                throw Output.fail("not paid: \(refusal)", code: 4)
            }
            throw Output.fail(
                "the provider asks \(payment.msats) msats before it runs the job: \(payment.bolt11 ?? "no invoice"); pay it with `pylon job pay \(job.id.hex)`, or submit with --auto-pay",
                code: 4)
        }
        switch job.status {
        case .completed: return
        case .timeout: throw Output.fail("the job timed out: \(job.error ?? "no result")", code: 5)
        case .error: throw Output.fail("the provider failed the job: \(job.error ?? "no reason given")")
        default: throw Output.fail("the job ended without a result (\(job.status))")
        }
    }
}

/// Live progress on stderr: a spinner on a terminal, one line per feedback otherwise.
final class Progress: Sendable {
    let enabled: Bool
    let isTerminal: Bool
    /// On a terminal the partial output is the start of the answer: it streams to stdout, and
    /// only the rest of the result follows. Piped, stdout gets the result alone.
    let streamsAnswer: Bool
    let started = ContinuousClock.now
    private let streamed = Mutex("")

    init(enabled: Bool) {
        self.enabled = enabled
        isTerminal = isatty(STDERR_FILENO) == 1
        streamsAnswer = enabled && isatty(STDOUT_FILENO) == 1
    }

    /// The partial output already shown on stdout.
    var streamedAnswer: String { streamed.withLock { $0 } }

    func write(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }

    private var clear: String { isTerminal ? "\r\u{1B}[K" : "" }

    func submitted(_ id: EventID, relays: [String]) {
        write("\(clear)submitted \(id.hex.prefix(16)) to \(relays.joined(separator: ", "))\n")
    }

    func feedback(_ feedback: JobFeedback, provider: PublicKey) {
        let who = String(provider.npub.prefix(16))
        let extra = feedback.extra
        switch feedback.status {
        case .partial:
            if streamsAnswer {
                write(clear)
                streamed.withLock { $0 += feedback.content }
                FileHandle.standardOutput.write(Data(feedback.content.utf8))
            } else {
                write("\(clear)\(who): partial: \(feedback.content.replacingOccurrences(of: "\n", with: " "))\n")
            }
        case .paymentRequired:
            write("\(clear)\(who): payment required: \(feedback.amount.map { "\($0.msats) msats" } ?? "an amount")\(extra.map { " (\($0))" } ?? "")\n")
        case .processing, .error, .success:
            write("\(clear)\(who): \(feedback.status.rawValue)\(extra.map { ": \($0)" } ?? "")\n")
        }
    }

    /// A spinner with the time waited, on a terminal only.
    func startSpinner() -> Task<Void, Never> {
        guard enabled && isTerminal else { return Task {} }
        return Task {
            let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
            var index = 0
            while !Task.isCancelled {
                let elapsed = ContinuousClock.now - started
                write("\r\(frames[index % frames.count]) waiting \(elapsed.components.seconds) s")
                index += 1
                try? await Task.sleep(for: .milliseconds(100))
            }
            write(clear)
        }
    }
}

/// A buyer job as `--json` prints it.
struct BuyerJobReport: Encodable {
    let id: String
    let kind: Int
    let status: String
    let provider: String?
    let prompt: String
    let params: [String: String]
    let bidMsats: Int64?
    let encrypted: Bool
    let relays: [String]
    let result: String?
    let resultEventID: String?
    let answeredBy: String?
    let error: String?
    let createdAt: String
    let feedback: [Feedback]
    /// When it was paid: how much, and the invoice's payment hash.
    var paidMsats: Int64?, paymentHash: String?
    /// When it ended waiting for a payment: what the provider asks.
    var amountMsats: Int64?, bolt11: String?

    struct Feedback: Encodable {
        let status: String
        let provider: String?
        let message: String?
        let amountMsats: Int64?
        let bolt11: String?
        let time: String
    }

    init(_ job: BuyerJob) {
        id = job.id.hex
        kind = Int(job.kind.rawValue)
        status = job.status.rawValue
        provider = job.provider?.hex
        prompt = job.prompt
        var params: [String: String] = [:]
        for member in job.params.objectValue ?? [] { params[member.key] = member.value.stringValue ?? member.value.serialized }
        self.params = params
        bidMsats = job.bidMsats
        encrypted = job.encrypted
        relays = job.relays
        result = job.result
        resultEventID = job.resultEventID?.hex
        answeredBy = job.answeredBy?.hex
        error = job.error
        createdAt = RFC3339.string(from: job.createdAt)
        feedback = job.feedback.map {
            Feedback(
                status: $0.status.rawValue, provider: $0.provider?.hex, message: $0.message, amountMsats: $0.amountMsats, bolt11: $0.bolt11,
                time: RFC3339.string(from: $0.time))
        }
        if job.amountPaidMsats > 0 {
            paidMsats = job.amountPaidMsats
            paymentHash = job.paymentHash
        } else if job.status == .paymentRequired, let asked = job.feedback.last(where: { $0.status == .paymentRequired }) {
            amountMsats = asked.amountMsats
            bolt11 = asked.bolt11
        }
    }
}

/// The reason a payment was refused, set from the follow's task and read after it.
final class LockedReason: Sendable {
    private let reason = Mutex<String?>(nil)
    func set(_ text: String) { reason.withLock { $0 = text } }
    var value: String? { reason.withLock { $0 } }
}

/// `pylon job list`.
struct JobListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Jobs this node bought, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Only jobs in this status (submitted, processing, payment_required, completed, error, timeout).")
    var status: String?
    @Option(name: .long, help: "At most this many.")
    var limit: Int = 20
    @Flag(name: .long, help: "One JSON array.")
    var json = false

    func run() async throws {
        var filter: BuyerJobStatus?
        if let status {
            guard let parsed = BuyerJobStatus(rawValue: status) else {
                throw Output.fail("--status \(status) is not one of \(BuyerJobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter = parsed
        }
        guard let store = try openStore(global.paths, json: json, empty: "no jobs bought yet") else { return }
        let jobs: [BuyerJob]
        do {
            jobs = try store.buyerJobs(status: filter, limit: limit)
        } catch {
            throw Output.fail(error.message)
        }
        if json { return try Output.json(jobs.map(BuyerJobReport.init)) }
        if jobs.isEmpty { return Output.line("no jobs bought yet") }
        for job in jobs {
            let prompt = job.prompt.count > 40 ? String(job.prompt.prefix(39)) + "…" : job.prompt
            Output.line("\(job.id.hex.prefix(16))  \(job.status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) kind \(job.kind)  \(prompt)")
        }
    }
}

/// `pylon job status ID`.
struct JobStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "One bought job: its status and feedback.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The request id (64 hex characters).")
    var id: String
    @Flag(name: .long, help: "One JSON document.")
    var json = false

    func run() async throws {
        let job = try loadBuyerJob(id, paths: global.paths)
        if json { return try Output.json(BuyerJobReport(job)) }
        Output.line("job       \(job.id.hex)")
        Output.line("status    \(job.status.rawValue)")
        Output.line("kind      \(job.kind)")
        if let provider = job.provider { Output.line("provider  \(provider.npub)") }
        if let error = job.error { Output.line("error     \(error)") }
        for item in job.feedback {
            Output.line("  \(RFC3339.string(from: item.time))  \(item.status.rawValue)\(item.message.map { "  \($0)" } ?? "")")
        }
        if let result = job.result { Output.line("result    \(result)") }
    }
}

func loadBuyerJob(_ text: String, paths: PylonPaths) throws -> BuyerJob {
    guard let id = try? EventID(hex: text) else { throw Output.fail("\(text) is not a job id (64 hex characters)") }
    guard FileManager.default.fileExists(atPath: paths.database.path) else { throw Output.fail("no job \(text): nothing was bought from this home yet") }
    do {
        let store = try PylonStore.open(path: paths.database.path)
        guard let job = try store.buyerJob(id: id) else { throw Output.fail("no job \(text) in this node's history") }
        return job
    } catch let error as PylonStoreError {
        throw Output.fail(error.message)
    }
}

/// `pylon job result ID`: from the history, or from the relays when it has none yet.
struct JobResultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "result", abstract: "A bought job's result (looked up on the relays if needed).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The request id (64 hex characters).")
    var id: String
    @Option(name: .customLong("relay"), help: ArgumentHelp("Look on this relay instead of config.toml's, repeatable.", valueName: "url"))
    var relays: [String] = []
    @Flag(name: .long, help: "One JSON document.")
    var json = false

    func run() async throws {
        var job = try loadBuyerJob(id, paths: global.paths)
        if job.result == nil {
            let looked = job
            job = try await BuyerContext.load(global.paths, relays: relays).run(store: true) { session in await session.lookUpResult(looked) }
        }
        if json { return try Output.json(BuyerJobReport(job)) }
        guard let result = job.result else { throw Output.fail("no result for \(job.id.hex) yet (status \(job.status.rawValue))") }
        Output.line(result)
    }
}

/// The most the buyer pays for one job (`--max-msats`), for `submit --auto-pay` and `pay`.
struct PaymentLimits: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The most to pay for this job, in millisatoshis.", valueName: "msats"))
    var maxMsats: Int64 = 10_000

    func validate() throws {
        guard maxMsats >= 0 else { throw ValidationError("--max-msats must not be negative") }
    }
}

/// `pylon job pay ID`: pays what the provider asked for a job submitted without --auto-pay, under
/// the same checks (the invoice's amount is the one asked, within --max-msats and the bid, not
/// expired, the only invoice for the job).
struct JobPayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pay", abstract: "Pay the invoice a provider sent for a job.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The request id (64 hex characters).")
    var id: String
    @OptionGroup var limits: PaymentLimits
    @Option(name: .customLong("relay"), help: ArgumentHelp("Use this relay instead of config.toml's, repeatable.", valueName: "url"))
    var relays: [String] = []
    @Flag(name: .long, help: "One JSON document.")
    var json = false

    func run() async throws {
        let paths = global.paths
        let job = try loadBuyerJob(id, paths: paths)
        guard job.amountPaidMsats == 0 else { throw Output.fail("job \(job.id.hex) is already paid (\(Sats.text(job.amountPaidMsats)))") }
        guard let asked = job.feedback.last(where: { $0.status == .paymentRequired }), let msats = asked.amountMsats else {
            throw Output.fail("no provider asked to be paid for job \(job.id.hex)")
        }
        let amount = JobAmount(msats: msats, bolt11: asked.bolt11)
        do {
            _ = try BuyerSession.checkPayment(amount, job: job, maxMsats: limits.maxMsats, now: Int64(Date().timeIntervalSince1970))
        } catch {
            throw Output.fail("not paid: \(error.description)")
        }
        let uri = try WalletCommand.configuredURI(paths)
        let maxMsats = limits.maxMsats
        let paid = try await BuyerContext.load(paths, relays: relays).run(store: true) { session -> BuyerJob in
            try await WalletClient.withConnection(uri, logger: JobSubmitCommand.quietLogger) { wallet in
                var job = job
                _ = try await session.pay(&job, amount: amount, wallet: wallet, maxMsats: maxMsats)
                return job
            }
        }
        if json { return try Output.json(BuyerJobReport(paid)) }
        Output.line("paid \(Sats.text(paid.amountPaidMsats)) for job \(paid.id.hex.prefix(16)); follow it with `pylon job status \(paid.id.hex)`")
    }
}

/// `pylon job providers`: NIP-89 announcements and heartbeat freshness.
struct JobProvidersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "providers", abstract: "Providers that announce a job kind, with their heartbeat.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The job kind.")
    var kind: Int = 5050
    @Option(name: .customLong("relay"), help: ArgumentHelp("Look on this relay instead of config.toml's, repeatable.", valueName: "url"))
    var relays: [String] = []
    @Flag(name: .long, help: "One JSON array.")
    var json = false

    struct Listing: Encodable {
        let pubkey: String
        let npub: String
        let name: String
        let about: String
        let kinds: [Int]
        let models: [String]
        let supportsEncryption: Bool
        let announcedAt: Int64
        let heartbeatAt: Int64?
        let heartbeatStatus: String?
        let heartbeatAgeSecs: Int64?
    }

    func validate() throws {
        guard (5000...5999).contains(kind) else { throw ValidationError("--kind must be from 5000 to 5999") }
    }

    func run() async throws {
        let context = try BuyerContext.load(global.paths, relays: relays)
        let kind = Kind(UInt16(kind))
        let providers = try await context.run(store: false) { session in await session.buyer.providers(kind: kind) }
        let now = Int64(Date().timeIntervalSince1970)
        let listings = providers.map {
            Listing(
                pubkey: $0.pubkey.hex, npub: $0.pubkey.npub, name: $0.name, about: $0.about, kinds: $0.kinds, models: $0.models,
                supportsEncryption: $0.supportsEncryption, announcedAt: $0.announcedAt, heartbeatAt: $0.heartbeatAt,
                heartbeatStatus: $0.heartbeatStatus, heartbeatAgeSecs: $0.heartbeatAt.map { now - $0 })
        }
        if json { return try Output.json(listings) }
        if listings.isEmpty { return Output.line("no provider announces kind \(kind) on \(context.relays.map(\.string).joined(separator: ", "))") }
        for listing in listings {
            let beat = listing.heartbeatAgeSecs.map { "heartbeat \($0) s ago (\(listing.heartbeatStatus ?? "?"))" } ?? "no live heartbeat"
            Output.line("\(listing.npub)  \(listing.name.isEmpty ? "(unnamed)" : listing.name)  \(beat)")
            if !listing.models.isEmpty { Output.line("    models: \(listing.models.joined(separator: ", "))") }
            if !listing.about.isEmpty { Output.line("    \(listing.about)") }
        }
    }
}
