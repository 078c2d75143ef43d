import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// `pylon wallet` against a NIP-47 wallet service (`nwc_wallet.py`) over a real relay: two homes,
/// one connected to the provider's wallet and one to the buyer's.
@Suite("pylon wallet", .serialized)
struct WalletCommandTests {
    @Test("connect checks and keeps the URI (0600); balance, invoice, pay and history; --json shapes; never the secret")
    func roundTrip() async throws {
        let relay = try await RelayProcess.start(.rustNostr)
        defer { relay.stop() }
        let service = try await TestWalletService(relays: [relay.url])
        let seller = try TestHome()
        let payer = try TestHome()
        let sellerURI = try #require(service.uris["provider"])
        let payerURI = try #require(service.uris["buyer"])
        let secrets = [sellerURI, payerURI].compactMap { $0.components(separatedBy: "secret=").last?.prefix(64).description }
        var outputs: [String] = []

        let connected = try seller.pylon("wallet", "connect", sellerURI, "--json")
        outputs.append(connected.stdout + connected.stderr)
        #expect(connected.status == 0, "\(connected)")
        let info = try #require(try connected.json() as? [String: Any])
        #expect((info["methods"] as? [String])?.contains("make_invoice") == true)
        #expect(info["encryption"] as? [String] == ["nip44_v2", "nip04"])
        #expect(info["relays"] as? [String] == [relay.url])
        let file = URL(fileURLWithPath: seller.path).appending(path: "wallet.nwc")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber)
        #expect(mode.intValue & 0o777 == 0o600)
        let kept = try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try WalletConnectURI(parsing: kept) == WalletConnectURI(parsing: sellerURI))
        // Through standard input, in text.
        let piped = try payer.pylon("wallet", "connect", "-", stdin: payerURI + "\n")
        outputs.append(piped.stdout + piped.stderr)
        #expect(piped.status == 0 && piped.stdout.contains("connected"), "\(piped)")

        let balance = try payer.pylon("wallet", "balance", "--json")
        outputs.append(balance.stdout + balance.stderr)
        #expect(balance.status == 0, "\(balance)")
        #expect((try? balance.json() as? [String: Any])?["balance_msats"] as? Int == 1_000_000_000, "\(balance)")

        let invoice = try seller.pylon("wallet", "invoice", "21", "--memo", "a test", "--json")
        outputs.append(invoice.stdout + invoice.stderr)
        let made = try #require(try invoice.json() as? [String: Any])
        let bolt11 = try #require(made["bolt11"] as? String)
        #expect(bolt11.hasPrefix("lnbcrt210n") && made["amount_msats"] as? Int == 21_000)
        #expect((made["payment_hash"] as? String)?.count == 64 && (made["expires_at"] as? Int ?? 0) > Int(Date().timeIntervalSince1970))

        let paid = try payer.pylon("wallet", "pay", bolt11, "--json")
        outputs.append(paid.stdout + paid.stderr)
        let payment = try #require(try paid.json() as? [String: Any], "\(paid)")
        #expect(payment["payment_hash"] as? String == made["payment_hash"] as? String)
        #expect((payment["preimage"] as? String)?.count == 64 && payment["amount_msats"] as? Int == 21_000)
        #expect(try service.balance("provider") == 21_000)

        // The same invoice again: the wallet refuses, pylon says so in one sentence, exit 1.
        let again = try payer.pylon("wallet", "pay", bolt11)
        outputs.append(again.stdout + again.stderr)
        #expect(again.status == 1 && again.stderr.contains("PAYMENT_FAILED"), "\(again)")

        let history = try seller.pylon("wallet", "history", "--json")
        outputs.append(history.stdout + history.stderr)
        let items = try #require(try history.json() as? [[String: Any]])
        #expect(items.contains { $0["type"] as? String == "incoming" && $0["amount_msats"] as? Int == 21_000 && $0["settled_at"] is Int })
        let text = try seller.pylon("wallet", "history")
        #expect(text.stdout.contains("+21 sats"), "\(text)")

        for output in outputs {
            for secret in secrets { #expect(!output.contains(secret)) }
        }
    }

    @Test("no wallet, a broken URI, an unreachable wallet, a garbage invoice: one clear sentence each, exit 1")
    func errors() async throws {
        let home = try TestHome()
        let none = try home.pylon("wallet", "balance")
        #expect(none.status == 1 && none.stderr.contains("no wallet is connected"), "\(none)")
        let secret = String(repeating: "ab", count: 32)
        let broken = try home.pylon("wallet", "connect", "nostr+walletconnect://xyz?relay=wss://r.example&secret=\(secret)")
        #expect(broken.status == 1 && broken.stderr.contains("public key") && !broken.stderr.contains(secret), "\(broken)")
        let port = try FreePort.next()
        let pubkey = String(repeating: "cd", count: 32)
        let unreachable = try home.pylon("wallet", "connect", "nostr+walletconnect://\(pubkey)?relay=ws://127.0.0.1:\(port)&secret=\(secret)")
        #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot reach") && !unreachable.stderr.contains(secret), "\(unreachable)")
        #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: home.path).appending(path: "wallet.nwc").path))
        let garbage = try home.pylon("wallet", "pay", "lnbc1notaninvoice")
        #expect(garbage.status == 1 && garbage.stderr.contains("invoice"), "\(garbage)")
    }
}
