import Foundation
import NostrCore
import PylonBasics
import Testing

/// NIP-47 as values: the connection URI, the info event, requests, answers and notifications.
@Suite("NIP-47 values")
struct NIP47Tests {
    let wallet = Keypair(SecretKey.generate())
    let client = Keypair(SecretKey.generate())

    var uriText: String {
        "nostr+walletconnect://\(wallet.publicKey.hex)?relay=wss%3A%2F%2Frelay.one.example&relay=ws://127.0.0.1:7777&secret=\(client.secretKey.hex)&lud16=node%40pylon.test"
    }

    @Test("a connection URI: several relays (percent-encoded or not), the secret, lud16; it prints without the secret")
    func parsesURI() throws {
        let uri = try WalletConnectURI(parsing: uriText)
        #expect(uri.walletPubkey == wallet.publicKey)
        #expect(uri.relays == ["wss://relay.one.example", "ws://127.0.0.1:7777"])
        #expect(uri.secret == client.secretKey)
        #expect(uri.lud16 == "node@pylon.test")
        #expect(!uri.description.contains(client.secretKey.hex))
        #expect(!"\(uri)".contains(client.secretKey.hex))
        #expect(try WalletConnectURI(parsing: uri.uri) == uri)
        #expect(try WalletConnectURI(parsing: "  nostr+walletconnect:\(wallet.publicKey.hex)?relay=ws://r.example&secret=\(client.secretKey.hex)\n").relays == ["ws://r.example"])
    }

    @Test("a broken URI is an error that names what is wrong and never repeats the secret")
    func refusesURI() {
        let secret = client.secretKey.hex
        let bad = [
            "https://\(wallet.publicKey.hex)?relay=wss://r&secret=\(secret)",
            "nostr+walletconnect://nothex?relay=wss://r&secret=\(secret)",
            "nostr+walletconnect://\(wallet.publicKey.hex)?secret=\(secret)",
            "nostr+walletconnect://\(wallet.publicKey.hex)?relay=https://r&secret=\(secret)",
            "nostr+walletconnect://\(wallet.publicKey.hex)?relay=wss://r",
            "nostr+walletconnect://\(wallet.publicKey.hex)?relay=wss://r&secret=\(secret.prefix(60))zzzz",
        ]
        for text in bad {
            do {
                _ = try WalletConnectURI(parsing: text)
                Issue.record("accepted \(text.prefix(40))")
            } catch {
                #expect(!error.message.contains(secret) && !error.description.contains(secret))
                #expect(!error.message.contains(secret.prefix(60)))
            }
        }
    }

    @Test("the info event: methods, encryptions (NIP-04 alone without the tag), notifications")
    func info() throws {
        let tagged = UnsignedEvent(
            pubkey: wallet.publicKey, createdAt: 1, kind: NIP47.infoKind,
            tags: [["encryption", "nip44_v2 nip04"], ["notifications", "payment_received payment_sent"]],
            content: "pay_invoice get_balance make_invoice lookup_invoice list_transactions get_info notifications hold_something"
        ).sign(with: wallet)
        let info = WalletInfo(event: tagged)
        #expect(info.methods == Set(WalletMethod.allCases))
        #expect(info.methodNames.contains("hold_something"))
        #expect(info.preferredEncryption == .nip44)
        #expect(info.notifiesPayments)
        let legacy = WalletInfo(event: UnsignedEvent(pubkey: wallet.publicKey, createdAt: 1, kind: NIP47.infoKind, content: "pay_invoice").sign(with: wallet))
        #expect(legacy.encryptions == [.nip04] && legacy.preferredEncryption == .nip04)
        #expect(!legacy.notifiesPayments)
        #expect(legacy.methods == [.payInvoice])
    }

    @Test("a request is encrypted to the wallet with the chosen scheme, tagged, and expires", arguments: [EncryptionScheme.nip44, .nip04])
    func request(scheme: EncryptionScheme) throws {
        let uri = try WalletConnectURI(parsing: uriText)
        let event = try WalletRequest(.payInvoice, ["invoice": "lnbc1x"]).event(to: uri, encryption: scheme, now: 100, expiration: 160)
        #expect(event.kind == NIP47.requestKind && event.pubkey == client.publicKey && event.hasValidSignature)
        #expect(event.tags.first(named: "p")?.value == wallet.publicKey.hex)
        #expect(event.tags.first(named: "encryption")?.value == (scheme == .nip44 ? "nip44_v2" : nil))
        #expect(event.tags.first(named: "expiration")?.value == "160")
        let plaintext = try scheme.decrypt(event.content, secretKey: wallet.secretKey, peer: client.publicKey)
        let json = try JSON.parse(plaintext)
        #expect(json["method"] == "pay_invoice" && json["params"]?["invoice"] == "lnbc1x")
    }

    @Test("answers: a result, each NIP-47 error code (an unknown one reads as OTHER), foreign or broken ones refused")
    func responses() throws {
        let uri = try WalletConnectURI(parsing: uriText)
        let requestID = try EventID(hex: String(repeating: "ab", count: 32))
        func answer(_ body: String, scheme: EncryptionScheme = .nip44, from author: Keypair? = nil, tags: [NostrCore.Tag]? = nil) throws -> Event {
            let content = try scheme.encrypt(body, secretKey: (author ?? wallet).secretKey, peer: client.publicKey)
            return UnsignedEvent(
                pubkey: (author ?? wallet).publicKey, createdAt: 1, kind: NIP47.responseKind,
                tags: tags ?? [["p", client.publicKey.hex], ["e", requestID.hex]], content: content
            ).sign(with: author ?? wallet)
        }
        let ok = try WalletResponse(event: answer(#"{"result_type":"get_balance","error":null,"result":{"balance":21000}}"#), uri: uri)
        #expect(ok.requestID == requestID && ok.error == nil && ok.result?["balance"] == 21000)
        let legacy = try WalletResponse(event: answer(#"{"result_type":"get_balance","result":{"balance":1}}"#, scheme: .nip04), uri: uri)
        #expect(legacy.result?["balance"] == 1)
        for code in WalletErrorCode.allCases {
            let failed = try WalletResponse(
                event: answer(#"{"result_type":"pay_invoice","error":{"code":"\#(code.rawValue)","message":"no"},"result":null}"#), uri: uri)
            #expect(failed.error?.code == code)
            #expect(failed.error?.description.contains(code.explanation) == true)
        }
        let unknown = try WalletResponse(event: answer(#"{"result_type":"x","error":{"code":"SOMETHING_NEW","message":"?"}}"#), uri: uri)
        #expect(unknown.error?.code == .other)
        let stranger = Keypair(SecretKey.generate())
        #expect(throws: NostrError.self) { try WalletResponse(event: answer("{}", from: stranger), uri: uri) }
        #expect(throws: NostrError.self) { try WalletResponse(event: answer("{}", tags: [["p", client.publicKey.hex]]), uri: uri) }
        #expect(throws: NostrError.self) { try WalletResponse(event: answer("not json"), uri: uri) }
    }

    @Test("a transaction needs a payment hash and an amount; settled by state, settled_at or preimage")
    func transactions() throws {
        let hash = String(repeating: "0f", count: 32)
        let pending = try WalletTransaction(json: ["type": "incoming", "state": "pending", "payment_hash": .string(hash), "amount": 21000, "created_at": 5])
        #expect(!pending.isSettled && pending.direction == .incoming && pending.amountMsats == 21000)
        let settled = try WalletTransaction(json: ["payment_hash": .string(hash), "amount": 1, "settled_at": 9])
        #expect(settled.isSettled)
        #expect(throws: NostrError.self) { try WalletTransaction(json: ["amount": 1]) }
        #expect(throws: NostrError.self) { try WalletTransaction(json: ["payment_hash": .string(hash)]) }
    }
}
