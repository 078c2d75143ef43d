import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// The buyer pays (issue 17 item 5): `job submit --auto-pay` against a priced pylon provider,
/// and `job pay ID` after a submit without it; the limits hold and nothing is paid twice.
@Suite("buyer: paying a priced provider", .serialized)
struct AutoPayTests {
    struct Rig {
        let priced: PricedJobTests.PricedRig
        let buyer: PylonNode
    }

    func start() async throws -> Rig {
        let priced = try await PricedJobTests().start()
        let buyer = try PylonNode(relays: [priced.rig.relay.url], extraConfig: "[http]\nlisten = \"\"\n")
        #expect(try buyer.pylon("wallet", "connect", try #require(priced.wallet.uris["buyer"])).status == 0)
        return Rig(priced: priced, buyer: buyer)
    }

    /// The buyer's journal entries of one kind.
    func entries(_ kind: String, in buyer: PylonNode) throws -> [[String: Any]] {
        let all = try buyer.pylon("events", "--json").json() as? [[String: Any]] ?? []
        return all.filter { $0["kind"] as? String == kind }.compactMap { $0["data"] as? [String: Any] }
    }

    @Test("submit --wait --auto-pay pays the invoice within --max-msats and gets the result; --json says what it paid")
    func autoPay() async throws {
        let rig = try await start()
        defer { rig.priced.walletRelay.stop() }
        let provider = rig.priced.rig.provider
        let run = try rig.buyer.pylon(
            "job", "submit", "count to three", "--provider", provider, "--bid", "21000", "--wait", "--auto-pay", "--max-msats", "21000", "--json")
        #expect(run.status == 0, "\(run)")
        let report = try #require(try run.json() as? [String: Any])
        #expect(report["status"] as? String == "completed")
        #expect(report["paid_msats"] as? Int == 21_000)
        #expect((report["payment_hash"] as? String)?.count == 64)
        #expect(try rig.priced.wallet.balance("provider") == 21_000)
        #expect(try rig.priced.wallet.balance("buyer") == 1_000_000_000 - 21_000)
        let sent = try entries("payment.sent", in: rig.buyer)
        #expect(sent.count == 1, "\(sent)")
        #expect(sent.first?["payment_hash"] as? String == report["payment_hash"] as? String)
        #expect(sent.first?["amount_msats"] as? Int == 21_000 && sent.first?["provider"] as? String != nil)
        #expect(sent.first?["job_id"] as? String == report["id"] as? String)
    }

    @Test("--auto-pay refuses a price above --max-msats: exit 4, nothing paid, nothing run")
    func overLimit() async throws {
        let rig = try await start()
        defer { rig.priced.walletRelay.stop() }
        let run = try rig.buyer.pylon(
            "job", "submit", "too dear", "--provider", rig.priced.rig.provider, "--wait", "--auto-pay", "--max-msats", "1000")
        #expect(run.status == 4 && run.stderr.contains("more than the limit"), "\(run)")
        #expect(try rig.priced.wallet.balance("buyer") == 1_000_000_000)
        #expect(rig.priced.rig.mock.calls(.openAIChat) == 0)
        let refused = try entries("payment.refused", in: rig.buyer)
        #expect(refused.count == 1 && (refused.first?["reason"] as? String)?.contains("more than the limit") == true, "\(refused)")
        #expect(refused.first?["amount_msats"] as? Int == 21_000)
        #expect(try entries("payment.sent", in: rig.buyer).isEmpty)
    }

    @Test("without --auto-pay: exit 4 with the amount and the invoice; job pay ID pays it once; the job then runs")
    func payLater() async throws {
        let rig = try await start()
        defer { rig.priced.walletRelay.stop() }
        let run = try rig.buyer.pylon("job", "submit", "pay me later", "--provider", rig.priced.rig.provider, "--wait", "--json")
        #expect(run.status == 4, "\(run)")
        let report = try #require(try run.json() as? [String: Any])
        #expect(report["amount_msats"] as? Int == 21_000)
        #expect((report["bolt11"] as? String)?.hasPrefix("lnbcrt") == true)
        let id = try #require(report["id"] as? String)

        let paid = try rig.buyer.pylon("job", "pay", id, "--max-msats", "21000", "--json")
        #expect(paid.status == 0, "\(paid)")
        #expect((try paid.json() as? [String: Any])?["paid_msats"] as? Int == 21_000)
        let again = try rig.buyer.pylon("job", "pay", id, "--max-msats", "21000")
        #expect(again.status == 1 && again.stderr.contains("already paid"), "\(again)")
        #expect(try rig.priced.wallet.balance("buyer") == 1_000_000_000 - 21_000)
        let result = await awaitCondition(timeout: .seconds(30), interval: .milliseconds(300)) {
            let looked = try? rig.buyer.pylon("job", "result", id)
            return looked?.status == 0 && !(looked?.stdout.isEmpty ?? true)
        }
        #expect(result, "the provider ran the paid job")
    }
}
