import Foundation
@testable import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

/// BOLT #11 invoices: every example of the specification (Tests/Vectors/bolt11.json says where
/// they come from), and invoices generated and signed by the `bolt11` Python package.
@Suite("BOLT #11 invoices")
struct BOLT11Tests {
    static var vectors: [String: Any] { (try? TestPaths.repositoryVectorJSON("bolt11.json") as? [String: Any]) ?? [:] }
    static var valid: [[String: Any]] { (vectors["valid"] as? [[String: Any]]) ?? [] }
    static var invalid: [[String: Any]] { (vectors["invalid"] as? [[String: Any]]) ?? [] }

    @Test("the vector file holds every example of BOLT #11")
    func vectorFile() {
        #expect(Self.valid.count == 15)
        #expect(Self.invalid.count == 10)
    }

    @Test("every valid example decodes to what the specification says", arguments: 0..<15)
    func validExample(index: Int) throws {
        let vector = try #require(Self.valid.indices.contains(index) ? Self.valid[index] : nil)
        let text = try #require(vector["invoice"] as? String)
        let invoice = try BOLT11Invoice(text)
        try Self.expect(invoice, matches: vector, context: vector["title"] as? String ?? text)
        #expect(invoice.text == text.lowercased())
    }

    @Test("every invalid example is refused with invalid_invoice", arguments: 0..<10)
    func invalidExample(index: Int) throws {
        let vector = try #require(Self.invalid.indices.contains(index) ? Self.invalid[index] : nil)
        let text = try #require(vector["invoice"] as? String)
        do {
            let invoice = try BOLT11Invoice(text)
            Issue.record("\(vector["title"] ?? "") decoded, amount \(String(describing: invoice.amountMsats))")
        } catch {
            #expect(error.code == .invalidInvoice, "\(vector["title"] ?? ""): \(error.message)")
        }
    }

    @Test("amounts: every multiplier, no amount, sub-millisatoshi and malformed amounts refused")
    func amounts() throws {
        let cases: [(String, Int64?)] = [
            ("lnbc", nil), ("lnbc1", 100_000_000_000), ("lnbc20m", 2_000_000_000), ("lnbc2500u", 250_000_000),
            ("lnbc10n", 1000), ("lnbc1230p", 123), ("lnbcrt5u", 500_000), ("lntbs1m", 100_000_000), ("lntb100n", 10_000),
        ]
        for (hrp, msats) in cases {
            let (_, amount) = try BOLT11Invoice.readPrefix(hrp)
            #expect(amount == msats, "\(hrp)")
        }
        for bad in ["lnbc1231p", "lnbc01m", "lnbc2500x", "lnbcm", "lnxx10u", "bc10u", "lnbc99999999999999999999m", "lnbc1-0u"] {
            #expect(throws: NostrError.self, "\(bad)") { try BOLT11Invoice.readPrefix(bad) }
        }
        #expect(try BOLT11Invoice.readPrefix("lnbcrt10u").0 == .regtest)
        #expect(try BOLT11Invoice.readPrefix("lntbs10u").0 == .signet)
    }

    @Test("invoices signed by the bolt11 Python package decode to the same fields")
    func crossCheck() throws {
        let output = try PythonPeers.run(script: "bolt11_invoices.py", arguments: ["200", "11"], input: Data())
        let generated = try #require(try JSONSerialization.jsonObject(with: output) as? [[String: Any]])
        #expect(generated.count == 200)
        for vector in generated {
            let text = try #require(vector["invoice"] as? String)
            let invoice = try BOLT11Invoice(text)
            try Self.expect(invoice, matches: vector, context: text)
            #expect(invoice.minFinalCLTVExpiryDelta == vector["min_final_cltv_expiry"] as? Int64 ?? -1, "\(text)")
            // A single flipped character breaks the checksum or the signature.
            var broken = Array(text)
            let position = broken.count / 2
            broken[position] = broken[position] == "q" ? "p" : "q"
            #expect(throws: NostrError.self) { try BOLT11Invoice(String(broken)) }
        }
    }

    @Test("hostile text is refused, never a crash")
    func hostile() {
        let samples = ["", "lightning:", "ln", "lnbc1", String(repeating: "q", count: 9000), "lnbc1" + String(repeating: "q", count: 200), "LNBC1QQQQ", "lnbc1\u{0}"]
        for sample in samples {
            #expect(throws: NostrError.self) { try BOLT11Invoice(sample) }
        }
        // A valid example with a "lightning:" prefix and spaces around it decodes.
        if let text = Self.valid.first?["invoice"] as? String {
            #expect((try? BOLT11Invoice("  lightning:\(text)\n")) != nil)
        }
    }

    static func expect(_ invoice: BOLT11Invoice, matches vector: [String: Any], context: String) throws {
        #expect(invoice.network.rawValue == vector["network"] as? String, "\(context)")
        #expect(invoice.amountMsats == vector["amount_msats"] as? Int64, "\(context)")
        #expect(invoice.timestamp == vector["timestamp"] as? Int64, "\(context)")
        #expect(invoice.paymentHash.hex == vector["payment_hash"] as? String, "\(context)")
        #expect(invoice.expirySeconds == vector["expiry"] as? Int64, "\(context)")
        #expect(invoice.payeeHex == vector["payee"] as? String, "\(context)")
        switch invoice.purpose {
        case .description(let text):
            #expect(text == vector["description"] as? String, "\(context)")
            #expect(vector["description_hash"] is NSNull || vector["description_hash"] == nil, "\(context)")
        case .descriptionHash(let hash):
            #expect(hash.hex == vector["description_hash"] as? String, "\(context)")
        }
    }
}
