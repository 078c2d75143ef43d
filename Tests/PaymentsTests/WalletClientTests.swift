import Foundation
import Logging
import NostrCore
import PylonBasics
import PylonTestSupport
import ServiceLifecycle
import Testing

@testable import Payments

/// The NIP-47 client against a real wallet service (`nwc_wallet.py` on `nostr-sdk`) over a real
/// relay (rust-nostr's), in each encryption the service may speak.
@Suite("Wallet client against a NIP-47 wallet service", .serialized)
struct WalletClientTests {
    /// A relay, a wallet service with a provider and a buyer wallet, and a running client for each.
    struct Rig {
        let relay: RelayProcess
        let service: TestWalletService
        let provider: WalletClient
        let buyer: WalletClient
    }

    /// The PaymentsError `body` throws; nil (and a recorded issue) when it succeeds or throws another.
    func paymentsError(_ body: () async throws -> Void) async -> PaymentsError? {
        do {
            try await body()
            Issue.record("expected a PaymentsError")
            return nil
        } catch let error as PaymentsError {
            return error
        } catch {
            Issue.record("expected a PaymentsError, got \(error)")
            return nil
        }
    }

    static let quiet = Logger(label: "pylon.test.payments", factory: { _ in SwiftLogNoOpLogHandler() })

    func withRig(
        encryption: String = "both", notifications: Bool = true, requestTimeout: Duration = .seconds(15),
        _ body: (Rig) async throws -> Void
    ) async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        defer { relay.stop() }
        let service = try await TestWalletService(relays: [relay.url], encryption: encryption, notifications: notifications)
        var configuration = WalletClient.Configuration()
        configuration.requestTimeout = requestTimeout
        let provider = WalletClient(uri: try WalletConnectURI(parsing: try #require(service.uris["provider"])), configuration: configuration, logger: Self.quiet)
        let buyer = WalletClient(uri: try WalletConnectURI(parsing: try #require(service.uris["buyer"])), configuration: configuration, logger: Self.quiet)
        let group = ServiceGroup(configuration: .init(services: [provider, buyer], logger: Self.quiet))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await body(Rig(relay: relay, service: service, provider: provider, buyer: buyer))
            await group.triggerGracefulShutdown()
        }
    }

    @Test("an invoice made, looked up, paid, settled and notified; balances move by its amount", arguments: ["both", "nip44", "nip04"])
    func invoiceRoundTrip(encryption: String) async throws {
        try await withRig(encryption: encryption) { rig in
            let info = try #require(try await rig.provider.info())
            #expect(info.preferredEncryption == (encryption == "nip04" ? .nip04 : .nip44))
            let node = try await rig.provider.getInfo()
            #expect(node.network == "regtest" && node.methods.contains("make_invoice"))
            let notifications = rig.provider.notifications()
            let before = try await rig.buyer.getBalance()
            #expect(before == 1_000_000_000)

            let (transaction, invoice) = try await rig.provider.makeInvoice(amountMsats: 21_000, description: "pylon job 7f3a", expirySeconds: 600)
            #expect(invoice.amountMsats == 21_000 && invoice.network == .regtest && invoice.description == "pylon job 7f3a")
            #expect(invoice.expirySeconds == 600)
            #expect(transaction.paymentHash == invoice.paymentHash.hex)
            #expect(try await rig.provider.lookupInvoice(paymentHash: transaction.paymentHash).isSettled == false)

            let paid = try await rig.buyer.payInvoice(invoice)
            #expect(paid.preimage.count == 64)
            #expect(try await rig.provider.lookupInvoice(paymentHash: transaction.paymentHash).isSettled)
            #expect(try await rig.buyer.getBalance() == before - 21_000)
            #expect(try await rig.provider.getBalance() == 21_000)
            #expect(try rig.service.balance("provider") == 21_000)

            // The provider hears of it once, although the service may send a NIP-44 and a NIP-04 copy.
            var received: [WalletNotification] = []
            for await notification in notifications {
                received.append(notification)
                break
            }
            #expect(received.first?.type == "payment_received")
            #expect(received.first?.transaction.paymentHash == transaction.paymentHash)

            // Paying again is refused by the wallet, with its code.
            #expect(await paymentsError { _ = try await rig.buyer.payInvoice(invoice) }?.code == .paymentFailed)
            let counts = try rig.service.requests()
            let schemes = counts["encryption"] as? [String: Any] ?? counts
            #expect("\(schemes)".contains(encryption == "nip04" ? "nip04" : "nip44"), "\(counts)")
            let history = try await rig.buyer.listTransactions()
            #expect(history.contains { $0.paymentHash == transaction.paymentHash && $0.direction == .outgoing })
            // Every request, answer and notification used the keys shared with the wallet, derived once.
            #expect(rig.provider.sharedKeysDerived == 1 && rig.buyer.sharedKeysDerived == 1)
            // The subscription asks for the notifications in the one scheme they are read in.
            let notified = encryption == "nip04" ? NIP47.legacyNotificationKind : NIP47.notificationKind
            #expect(rig.provider.listenedKinds == [NIP47.responseKind, notified])
        }
    }

    @Test("a client whose relays are out of reach stops at once on graceful shutdown, while it still waits for the wallet's info")
    func shutdownWhileUnreachable() async throws {
        // A closed port: the client keeps trying, and waits up to its connect timeout for the info.
        let uri = WalletConnectURI(walletPubkey: Keypair.generate().publicKey, relays: ["ws://127.0.0.1:1"], secret: SecretKey.generate())
        var configuration = WalletClient.Configuration()
        configuration.connectTimeout = .seconds(30)
        let client = WalletClient(uri: uri, configuration: configuration, logger: Self.quiet)
        let group = ServiceGroup(configuration: .init(services: [client], logger: Self.quiet))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(300))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(client.listenedKinds.isEmpty)
    }

    @Test("the subscription's kinds: answers, and the notifications of the scheme read (both before the info is known)")
    func listenedKinds() {
        let both = WalletInfo(methodNames: ["make_invoice"], encryptions: [.nip44, .nip04], notifications: ["payment_received"])
        let legacy = WalletInfo(methodNames: ["make_invoice"], encryptions: [.nip04], notifications: ["payment_received"])
        #expect(WalletClient.listenedKinds(both) == [NIP47.responseKind, NIP47.notificationKind])
        #expect(WalletClient.listenedKinds(legacy) == [NIP47.responseKind, NIP47.legacyNotificationKind])
        #expect(WalletClient.listenedKinds(nil) == [NIP47.responseKind, NIP47.notificationKind, NIP47.legacyNotificationKind])
    }

    @Test("every NIP-47 error code reaches the caller as its own code with a sentence, never the secret")
    func errorCodes() async throws {
        try await withRig { rig in
            let secret = rig.buyer.uri.secret.hex
            for code in WalletErrorCode.allCases {
                try rig.service.command(["cmd": "fail", "method": "get_balance", "code": code.rawValue, "message": "test \(code.rawValue)"])
                let error = await paymentsError { _ = try await rig.buyer.getBalance() }
                #expect(error?.code == PaymentsErrorCode(code), "\(code)")
                #expect(error?.message.contains(code.explanation) == true)
                #expect(error.map { !$0.description.contains(secret) } == true)
            }
            #expect(try await rig.buyer.getBalance() == 1_000_000_000)
        }
    }

    @Test("a wallet that does not answer: the request ends at its deadline with timed_out")
    func deadline() async throws {
        try await withRig(requestTimeout: .milliseconds(800)) { rig in
            try rig.service.command(["cmd": "silence", "method": "get_balance", "on": true])
            let started = ContinuousClock.now
            #expect(await paymentsError { _ = try await rig.buyer.getBalance() }?.code == .timedOut)
            #expect(ContinuousClock.now - started < .seconds(5))
            try rig.service.command(["cmd": "silence", "method": "get_balance", "on": false])
            #expect(try await rig.buyer.getBalance() == 1_000_000_000)
        }
    }

    @Test("an invoice for the wrong amount, an expired or foreign one: refused before any sat moves")
    func badInvoices() async throws {
        try await withRig { rig in
            // An invoice this wallet service never issued (a BOLT #11 example): the wallet refuses it.
            let foreign = try BOLT11Invoice(
                "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh")
            await #expect(throws: PaymentsError.self) { _ = try await rig.buyer.payInvoice(foreign) }
            #expect(try rig.service.balance("buyer") == 1_000_000_000)
            // Not enough in the wallet.
            try rig.service.command(["cmd": "set_balance", "wallet": "buyer", "msats": 5_000])
            let (_, invoice) = try await rig.provider.makeInvoice(amountMsats: 21_000, description: "too dear", expirySeconds: 600)
            #expect(await paymentsError { _ = try await rig.buyer.payInvoice(invoice) }?.code == .insufficientBalance)
            #expect(try rig.service.balance("buyer") == 5_000)
        }
    }
}

/// The test wallet service is itself checked against a second client: `nostr-sdk`'s own
/// `NostrWalletConnect`, so that what pylon's client passes against is a real NIP-47 service.
@Suite("The test wallet service against nostr-sdk's NWC client", .serialized)
struct WalletServiceInteropTests {
    @Test("nostr-sdk's client makes, looks up, pays and lists through the service", arguments: ["both", "nip44", "nip04"])
    func nostrSDKClient(encryption: String) async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        defer { relay.stop() }
        let service = try await TestWalletService(relays: [relay.url], encryption: encryption)
        let output = try PythonPeers.run(
            script: "nwc_sdk_check.py", arguments: [try #require(service.uris["provider"]), try #require(service.uris["buyer"])], input: Data())
        let report = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        #expect(report["ok"] as? Bool == true, "\(report)")
    }
}
