import Buyer
import Foundation
import NostrCore
import PylonBasics
import PylonStore
import Testing

/// What the buyer refuses to pay, before any wallet is asked (BOLT #11's 2500u example: 250,000,000
/// msats, long expired).
@Suite("buyer payment checks")
struct BuyerPaymentTests {
    static let invoice =
        "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh"

    func job(bid: Int64? = nil, paymentHash: String? = nil) throws -> BuyerJob {
        BuyerJob(
            id: try EventID(hex: String(repeating: "11", count: 32)), kind: 5050, prompt: "x", bidMsats: bid, paymentHash: paymentHash,
            createdAt: Date())
    }

    func refusal(_ amount: JobAmount, _ job: BuyerJob, max: Int64 = .max, now: Int64 = 1_496_314_660) -> String? {
        do {
            _ = try BuyerSession.checkPayment(amount, job: job, maxMsats: max, now: now)
            return nil
        } catch {
            #expect(error.code == .paymentRefused)
            return error.message
        }
    }

    @Test("an invoice is paid only for the amount asked, within the limit and the bid, unexpired, and only one per job")
    func refusals() throws {
        let asked = JobAmount(msats: 250_000_000, bolt11: Self.invoice)
        #expect(refusal(asked, try job()) == nil, "within a minute of its timestamp it is payable")
        #expect(refusal(JobAmount(msats: 250_000_000), try job())?.contains("without an invoice") == true)
        #expect(refusal(JobAmount(msats: 1_000, bolt11: Self.invoice), try job())?.contains("its invoice is for") == true)
        #expect(refusal(asked, try job(), max: 10_000)?.contains("more than the limit") == true)
        #expect(refusal(asked, try job(bid: 1_000))?.contains("more than the bid") == true)
        #expect(refusal(asked, try job(), now: Int64(Date().timeIntervalSince1970))?.contains("expired") == true)
        #expect(refusal(asked, try job(paymentHash: String(repeating: "ee", count: 32)))?.contains("another invoice") == true)
        #expect(refusal(JobAmount(msats: 1, bolt11: "lnbc1garbage"), try job())?.contains("not valid") == true)
    }
}
