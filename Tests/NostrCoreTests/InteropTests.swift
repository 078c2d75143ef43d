import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// pylon against rust-nostr (the `nostr-sdk` Python package): each reads what the other writes.
@Suite("Interop with rust-nostr (nostr-sdk)")
struct InteropTests {
    @Test("events signed by pylon verify in nostr-sdk, byte-exact ids included")
    func pylonEventsVerify() throws {
        let keypair = Keypair.generate()
        let contents = ["plain", "slash https://a.b/c", "quote \" backslash \\ newline \n tab \t", "é 🎉 \u{01} \u{1F} \u{7F} \u{2028}", ""]
        let events = contents.enumerated().map { index, content in
            UnsignedEvent(
                pubkey: keypair.publicKey, createdAt: 1_700_000_000 + Int64(index), kind: 5050,
                tags: [["i", content, "text"], ["p", keypair.publicKey.hex], ["param", "top-k", "50"]], content: content
            ).sign(with: keypair)
        }
        let answers = try PythonPeers.oracle(events.map { ["op": "verify_event", "json": $0.jsonString] })
        for (event, answer) in zip(events, answers) {
            let result = try #require(try answer.get() as? [String: Any])
            #expect(result["verify"] as? Bool == true, "\(event.content)")
            #expect(result["id_hex"] as? String == event.id.hex)
            #expect(result["content"] as? String == event.content)
        }
    }

    @Test("a tampered pylon event is rejected by nostr-sdk too")
    func tamperedRejected() throws {
        let keypair = Keypair.generate()
        let event = UnsignedEvent(pubkey: keypair.publicKey, createdAt: 1_700_000_000, kind: 1, content: "original").sign(with: keypair)
        let tampered = event.jsonString.replacingOccurrences(of: "original", with: "0riginal")
        let answers = try PythonPeers.oracle([["op": "verify_event", "json": tampered]])
        if case .success(let value) = answers[0], let result = value as? [String: Any] {
            #expect(result["verify"] as? Bool == false)
        }
        #expect(throws: NostrError.self) { try Event(json: tampered).verify() }
    }

    @Test("events signed by nostr-sdk parse and verify in pylon")
    func theirEventsVerify() throws {
        let key = SecretKey.generate()
        let contents = ["hello", "a/b \"c\" \\ \n é 🎉", "\u{01}\u{08}\u{0C}"]
        let requests: [[String: any Sendable]] = contents.enumerated().map { index, content in
            [
                "op": "sign_event", "sk": key.hex, "kind": 5050 + index, "content": content,
                "tags": [["i", content, "text"], ["t", "pylon"]], "created_at": 1_700_000_000 + index,
            ]
        }
        let answers = try PythonPeers.oracle(requests)
        for (content, answer) in zip(contents, answers) {
            let json = try #require(try answer.get() as? String)
            let event = try Event(json: json)
            try event.verify()
            #expect(event.content == content)
            #expect(event.pubkey == key.publicKey)
        }
    }
}

@Suite("Interop with rust-nostr: encryption and keys")
struct EncryptionInteropTests {
    static let plaintexts = ["a", "hello, world", "é 🎉 / \" \\ \n", String(repeating: "x", count: 1000), String(repeating: "🎉", count: 3000)]

    @Test("NIP-44 v2 both ways")
    func nip44() throws {
        let alice = SecretKey.generate()
        let bob = SecretKey.generate()
        // pylon encrypts (alice → bob); nostr-sdk decrypts as bob.
        let key = try NIP44.conversationKey(secretKey: alice, publicKey: bob.publicKey)
        let ours = try Self.plaintexts.map { try NIP44.encrypt($0, conversationKey: key) }
        let decrypted = try PythonPeers.oracle(ours.map { ["op": "nip44_decrypt", "sk": bob.hex, "pk": alice.publicKey.hex, "payload": $0] })
        for (plaintext, answer) in zip(Self.plaintexts, decrypted) {
            #expect(try answer.get() as? String == plaintext)
        }
        // nostr-sdk encrypts (bob → alice); pylon decrypts as alice.
        let theirs = try PythonPeers.oracle(Self.plaintexts.map { ["op": "nip44_encrypt", "sk": bob.hex, "pk": alice.publicKey.hex, "plaintext": $0] })
        for (plaintext, answer) in zip(Self.plaintexts, theirs) {
            let payload = try #require(try answer.get() as? String)
            #expect(try NIP44.decrypt(payload, conversationKey: key) == plaintext)
        }
    }

    @Test("NIP-04 both ways")
    func nip04() throws {
        let alice = SecretKey.generate()
        let bob = SecretKey.generate()
        let ours = try Self.plaintexts.map { try NIP04.encrypt($0, secretKey: alice, publicKey: bob.publicKey) }
        let decrypted = try PythonPeers.oracle(ours.map { ["op": "nip04_decrypt", "sk": bob.hex, "pk": alice.publicKey.hex, "content": $0] })
        for (plaintext, answer) in zip(Self.plaintexts, decrypted) {
            #expect(try answer.get() as? String == plaintext)
        }
        let theirs = try PythonPeers.oracle(Self.plaintexts.map { ["op": "nip04_encrypt", "sk": bob.hex, "pk": alice.publicKey.hex, "plaintext": $0] })
        for (plaintext, answer) in zip(Self.plaintexts, theirs) {
            let content = try #require(try answer.get() as? String)
            #expect(try NIP04.decrypt(content, secretKey: alice, publicKey: bob.publicKey) == plaintext)
        }
    }

    @Test("NIP-06 keys from fresh phrases match nostr-sdk's Keys.from_mnemonic")
    func nip06() throws {
        let phrases = (0..<6).map { Mnemonic.generate(wordCount: $0 % 2 == 0 ? 12 : 24) }
        let answers = try PythonPeers.oracle(phrases.enumerated().map { index, mnemonic in
            ["op": "from_mnemonic", "mnemonic": mnemonic.phrase, "account": index % 3]
        })
        for (index, (mnemonic, answer)) in zip(phrases, answers).enumerated() {
            let keys = try #require(try answer.get() as? [String: Any])
            let ours = NIP06.keypair(from: mnemonic, account: UInt32(index % 3))
            #expect(keys["pk"] as? String == ours.publicKey.hex)
            #expect(keys["sk"] as? String == ours.secretKey.hex)
        }
    }
}
