import ArgumentParser
import Daemon
import Foundation
import Logging
import NostrCore
import Payments
import PylonBasics

/// `pylon wallet`: the node's Nostr Wallet Connect (NIP-47) wallet (SPEC §3), talked to directly
/// over the wallet's relays; the daemon need not run.
struct WalletCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wallet",
        abstract: "The node's Lightning wallet, over Nostr Wallet Connect (NIP-47).",
        subcommands: [Connect.self, Info.self, Balance.self, MakeInvoice.self, Pay.self, History.self]
    )

    /// Methods the node needs: to be paid for jobs, and to pay (the buyer, the agents' funding).
    static let neededToBePaid: [WalletMethod] = [.makeInvoice, .lookupInvoice]
    static let neededToPay: [WalletMethod] = [.payInvoice, .getBalance]

    /// The configured connection (`[wallet]` or the file `wallet connect` wrote).
    static func configuredURI(_ paths: PylonPaths) throws -> WalletConnectURI {
        let wallet: PylonConfiguration.Wallet
        do {
            wallet = try PylonConfiguration.load(from: paths.configFile).configuration.wallet
        } catch {
            throw Output.fail(error.description)
        }
        let text: String?
        do {
            text = try wallet.connectionURI()?.revealed
        } catch {
            throw Output.fail(error.description)
        }
        guard let text else {
            throw Output.fail("no wallet is connected: run `pylon wallet connect nostr+walletconnect://...` (or set [wallet] nwc in config.toml)")
        }
        do {
            return try WalletConnectURI(parsing: text)
        } catch {
            throw Output.fail("the configured wallet connection is not valid: \(error.message)")
        }
    }

    /// Runs `body` with a client on `uri`'s relays; wallet errors print as one sentence.
    static func run<R: Sendable>(_ uri: WalletConnectURI, _ body: @Sendable (WalletClient) async throws(PaymentsError) -> R) async throws -> R {
        var logger = Logger(label: "pylon.payments")
        logger.logLevel = .critical
        var configuration = WalletClient.Configuration()
        configuration.connectTimeout = .seconds(8)
        do {
            return try await WalletClient.withConnection(uri, configuration: configuration, logger: logger) { client in
                try await body(client)
            }
        } catch let error as PaymentsError {
            throw Output.fail(error.description)
        }
    }

    /// `{"methods", "encryption", "notifications", "relays"}` (SPEC §12), and what is missing.
    struct InfoReport: Encodable {
        let methods: [String]
        let encryption: [String]
        let notifications: [String]
        let relays: [String]
        var alias: String?
        var network: String?
        var missing: [String]
    }

    static func infoReport(_ client: WalletClient) async throws(PaymentsError) -> InfoReport {
        let info = try await client.info(refresh: true)
        let node = try await client.getInfo()
        let methods = info?.methodNames ?? node.methods
        let missing = (neededToBePaid + neededToPay).map(\.rawValue).filter { !methods.contains($0) }
        return InfoReport(
            methods: methods, encryption: (info?.encryptions ?? [.nip04]).map { $0 == .nip44 ? "nip44_v2" : "nip04" },
            notifications: info.map { Array($0.notifications).sorted() } ?? node.notifications, relays: client.uri.relays,
            alias: node.alias, network: node.network, missing: missing)
    }

    static func printInfo(_ report: InfoReport) {
        Output.line("wallet     \(report.alias ?? "(no alias)") on \(report.network ?? "an unnamed network")")
        Output.line("relays     \(report.relays.joined(separator: ", "))")
        Output.line("methods    \(report.methods.joined(separator: " "))")
        Output.line("encryption \(report.encryption.joined(separator: " "))")
        Output.line("notifies   \(report.notifications.isEmpty ? "nothing (payments are looked up)" : report.notifications.joined(separator: " "))")
        let toBePaid = neededToBePaid.map(\.rawValue).filter { report.missing.contains($0) }
        let toPay = neededToPay.map(\.rawValue).filter { report.missing.contains($0) }
        if !toBePaid.isEmpty { Output.warning("this wallet cannot take payments for jobs: it lacks \(toBePaid.joined(separator: ", "))") }
        if !toPay.isEmpty { Output.warning("this wallet cannot pay (the buyer, agents): it lacks \(toPay.joined(separator: ", "))") }
    }

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a nostr+walletconnect:// URI with the wallet (get_info) and keep it (mode 0600).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: ArgumentHelp("The connection URI from the wallet; '-' reads it from standard input.", valueName: "uri"))
        var uri: String

        func run() async throws {
            let paths = global.paths
            let text = uri == "-" ? (FileHandle.readStandardInput() ?? "") : uri
            let connection: WalletConnectURI
            do {
                connection = try WalletConnectURI(parsing: text)
            } catch {
                throw Output.fail("not a wallet connection: \(error.message)")
            }
            let report = try await WalletCommand.run(connection) { client throws(PaymentsError) in try await WalletCommand.infoReport(client) }
            do {
                try FileSystem.makePrivateDirectory(paths.configDirectory)
                try FileSystem.writePrivateFile(paths.walletFile, contents: Data((connection.uri + "\n").utf8))
            } catch {
                throw Output.fail(error.description)
            }
            if output.json { return try Output.json(report) }
            WalletCommand.printInfo(report)
            Output.line("connected; kept in \(paths.walletFile.path) (mode 0600)")
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What the wallet offers: methods, encryption, notifications, relays.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let report = try await WalletCommand.run(try WalletCommand.configuredURI(global.paths)) { client throws(PaymentsError) in
                try await WalletCommand.infoReport(client)
            }
            if output.json { return try Output.json(report) }
            WalletCommand.printInfo(report)
        }
    }

    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The wallet's balance.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        struct Report: Encodable { let balanceMsats: Int64 }

        func run() async throws {
            let msats = try await WalletCommand.run(try WalletCommand.configuredURI(global.paths)) { client throws(PaymentsError) in
                try await client.getBalance()
            }
            if output.json { return try Output.json(Report(balanceMsats: msats)) }
            Output.line("\(Sats.text(msats))")
        }
    }

    struct MakeInvoice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "invoice", abstract: "Ask the wallet for an invoice of SATS.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The amount in satoshis.") var sats: Int64
        @Option(help: "What the invoice says it is for.") var memo: String = "pylon"
        @Option(help: "Seconds until it expires.") var expiry: Int64 = 3600

        struct Report: Encodable {
            let bolt11: String
            let paymentHash: String
            let amountMsats: Int64
            let expiresAt: Int64
        }

        func validate() throws {
            guard sats > 0, sats <= 21_000_000 * 100_000_000 else { throw ValidationError("SATS must be a positive number of satoshis") }
            guard expiry > 0 else { throw ValidationError("--expiry must be at least 1 second") }
        }

        func run() async throws {
            let (sats, memo, expiry) = (sats, memo, expiry)
            let made = try await WalletCommand.run(try WalletCommand.configuredURI(global.paths)) { client throws(PaymentsError) in
                try await client.makeInvoice(amountMsats: sats * 1000, description: memo, expirySeconds: expiry)
            }
            let report = Report(
                bolt11: made.invoice.text, paymentHash: made.transaction.paymentHash, amountMsats: sats * 1000,
                expiresAt: made.invoice.expiresAt)
            if output.json { return try Output.json(report) }
            Output.line(report.bolt11)
            Output.line("\(Sats.text(report.amountMsats)), payment hash \(report.paymentHash), expires in \(expiry) s")
        }
    }

    struct Pay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pay a BOLT #11 invoice from the wallet.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The invoice (lnbc…, lntb…, lnbcrt…).") var bolt11: String
        @Option(help: "For an invoice without an amount: how many satoshis to pay.") var sats: Int64?

        struct Report: Encodable {
            let paymentHash: String
            let preimage: String
            let amountMsats: Int64
            let feesPaidMsats: Int64?
        }

        func run() async throws {
            let invoice: BOLT11Invoice
            do {
                invoice = try BOLT11Invoice(bolt11)
            } catch {
                throw Output.fail(error.message)
            }
            if invoice.isExpired(now: Int64(Date().timeIntervalSince1970)) {
                throw Output.fail("the invoice expired at \(RFC3339.string(from: Date(timeIntervalSince1970: Double(invoice.expiresAt)))); ask for a new one")
            }
            guard let amount = invoice.amountMsats ?? sats.map({ $0 * 1000 }), amount > 0 else {
                throw Output.fail("the invoice names no amount: pass --sats N")
            }
            let extra = invoice.amountMsats == nil ? amount : nil
            let paid = try await WalletCommand.run(try WalletCommand.configuredURI(global.paths)) { client throws(PaymentsError) in
                try await client.payInvoice(invoice, amountMsats: extra)
            }
            let report = Report(paymentHash: invoice.paymentHash.hex, preimage: paid.preimage, amountMsats: amount, feesPaidMsats: paid.feesPaidMsats)
            if output.json { return try Output.json(report) }
            Output.line("paid \(Sats.text(amount))\(paid.feesPaidMsats.map { " (fees \(Sats.text($0)))" } ?? ""); preimage \(paid.preimage)")
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The wallet's recent payments, newest first.")

        @OptionGroup var global: GlobalOptions
        @Flag(name: .long, help: "One JSON array.") var json = false
        @Option(help: "How many.") var limit: Int = 20

        struct Item: Encodable {
            let type: String
            let amountMsats: Int64
            let paymentHash: String
            let settledAt: Int64?
            let description: String?
        }

        func run() async throws {
            let limit = max(1, min(limit, 500))
            let transactions = try await WalletCommand.run(try WalletCommand.configuredURI(global.paths)) { client throws(PaymentsError) in
                try await client.listTransactions(limit: limit)
            }
            let items = transactions.map {
                Item(type: $0.direction?.rawValue ?? "incoming", amountMsats: $0.amountMsats, paymentHash: $0.paymentHash, settledAt: $0.settledAt, description: $0.description)
            }
            if json { return try Output.json(items) }
            if items.isEmpty { return Output.line("no payments yet") }
            for item in items {
                let when = item.settledAt.map { RFC3339.string(from: Date(timeIntervalSince1970: Double($0))) } ?? "unsettled"
                let sign = item.type == "outgoing" ? "-" : "+"
                Output.line("\(when)  \(sign)\(Sats.text(item.amountMsats))  \(item.description ?? "")")
            }
        }
    }
}
