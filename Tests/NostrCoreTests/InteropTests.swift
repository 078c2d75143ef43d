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
