import Foundation
import NostrCore
import PylonTestSupport
import Testing

@Suite("NIP-01 events")
struct EventTests {
    struct EventVector: Sendable, CustomTestStringConvertible {
        let comment: String
        let raw: [String: any Sendable]
        var testDescription: String { comment }
    }

    static func vectors() throws -> [[String: Any]] {
        let root = try #require(try TestPaths.vectorJSON("nostr-vectors.json") as? [String: Any])
        return try #require(root["nip01_events"] as? [[String: Any]])
    }

    @Test("signed vectors reproduce id and signature byte for byte")
    func signedVectors() throws {
        for vector in try Self.vectors() where vector["sk"] != nil {
            // Given the vector's fields and key, with aux_rand = 32 zero bytes
            let key = try SecretKey(hex: try #require(vector["sk"] as? String))
            let tags = try #require(vector["tags"] as? [[String]]).map(NostrCore.Tag.init)
            let unsigned = UnsignedEvent(
                pubkey: key.publicKey, createdAt: Int64(try #require(vector["created_at"] as? Int)),
                kind: Kind(UInt16(try #require(vector["kind"] as? Int))), tags: tags,
                content: try #require(vector["content"] as? String))
            // When it is signed
            let event = unsigned.sign(with: Keypair(key), auxRand: .zero)
            // Then the id, pubkey and signature match exactly, and it verifies
            #expect(event.pubkey.hex == vector["pubkey"] as? String)
            #expect(event.id.hex == vector["id"] as? String)
            #expect(event.sig.hex == vector["sig"] as? String)
            try event.verify()
        }
    }

    @Test("a slash is not escaped in the id preimage")
    func slashNotEscaped() throws {
        let key = try SecretKey(hex: String(repeating: "0", count: 63) + "3")
        let unsigned = UnsignedEvent(pubkey: key.publicKey, createdAt: 1_700_000_000, kind: .textNote, content: "https://example.com/a/b")
        let preimage = String(decoding: unsigned.canonicalSerialization, as: UTF8.self)
        #expect(preimage.contains("https://example.com/a/b"))
        #expect(!preimage.contains("\\/"))
    }

    @Test("the preimage escapes exactly the NIP-01 set")
    func escaping() throws {
        let key = try SecretKey(hex: String(repeating: "0", count: 63) + "3")
        let content = "\"\\\n\r\t\u{08}\u{0C}\u{01}\u{1F}\u{7F}é🎉\u{2028}/"
        let unsigned = UnsignedEvent(pubkey: key.publicKey, createdAt: 1, kind: .textNote, content: content)
        let preimage = String(decoding: unsigned.canonicalSerialization, as: UTF8.self)
        #expect(preimage.hasSuffix(#",[],"\"\\\n\r\t\b\f\u0001\u001f"# + "\u{7F}é🎉\u{2028}/\"]"))
    }

    @Test("real events verify; a changed byte does not")
    func realEvent() throws {
        let vector = try #require(try Self.vectors().first { $0["event"] != nil })
        let json = String(decoding: try JSONSerialization.data(withJSONObject: try #require(vector["event"])), as: UTF8.self)
        let event = try Event(json: json)
        try event.verify()
        // Given the same event with one changed content character
        let tampered = Event(
            id: event.id, pubkey: event.pubkey, createdAt: event.createdAt, kind: event.kind, tags: event.tags,
            content: event.content + " ", sig: event.sig)
        #expect(throws: NostrError.self) { try tampered.verify() }
        #expect(!tampered.hasValidID)
        // And a signature from another key
        let other = UnsignedEvent(pubkey: event.pubkey, createdAt: 1, kind: 1).sign(with: .generate())
        let forged = Event(
            id: event.id, pubkey: event.pubkey, createdAt: event.createdAt, kind: event.kind, tags: event.tags,
            content: event.content, sig: other.sig)
        #expect(forged.hasValidID)
        #expect(!forged.hasValidSignature)
    }

    @Test("wire JSON round-trips and parses back to an equal event")
    func roundTrip() throws {
        let keypair = Keypair.generate()
        let event = UnsignedEvent(
            pubkey: keypair.publicKey, createdAt: 1_700_000_123, kind: 5050,
            tags: [["i", "hi \"there\"", "text"], ["param", "temperature", "0.5"], []],
            content: "multi\nline / 🎉"
        ).sign(with: keypair)
        let parsed = try Event(json: event.jsonString)
        #expect(parsed == event)
        try parsed.verify()
        // Foundation's parser reads the same text to the same fields.
        let foundation = try #require(try JSONSerialization.jsonObject(with: Data(event.jsonString.utf8)) as? [String: Any])
        #expect(foundation["content"] as? String == event.content)
        #expect(foundation["id"] as? String == event.id.hex)
    }

    @Test(
        "malformed events give errors",
        arguments: [
            #"[]"#,
            #"{}"#,
            #"{"id":1}"#,
            #"{"id":"AB","pubkey":"x","created_at":1,"kind":1,"tags":[],"content":"","sig":"x"}"#,
        ])
    func malformed(text: String) {
        #expect(throws: NostrError.self) { try Event(json: text) }
    }

    @Test("field checks: uppercase hex, negative time, huge kind, non-string tags")
    func fieldChecks() throws {
        let keypair = Keypair.generate()
        let good = UnsignedEvent(pubkey: keypair.publicKey, createdAt: 10, kind: 1).sign(with: keypair)
        let text = good.jsonString
        let variants = [
            text.replacingOccurrences(of: good.id.hex, with: good.id.hex.uppercased()),
            text.replacingOccurrences(of: "\"created_at\":10", with: "\"created_at\":-10"),
            text.replacingOccurrences(of: "\"created_at\":10", with: "\"created_at\":1e3"),
            text.replacingOccurrences(of: "\"created_at\":10", with: "\"created_at\":99999999999999999999999"),
            text.replacingOccurrences(of: "\"kind\":1", with: "\"kind\":65536"),
            text.replacingOccurrences(of: "\"kind\":1", with: "\"kind\":\"1\""),
            text.replacingOccurrences(of: "\"tags\":[]", with: "\"tags\":[[1]]"),
            text.replacingOccurrences(of: "\"tags\":[]", with: "\"tags\":[\"p\"]"),
            text.replacingOccurrences(of: "\"content\":\"\"", with: "\"content\":null"),
            text.replacingOccurrences(of: "\"sig\":\"", with: "\"sig\":\"00"),
        ]
        for variant in variants {
            #expect(throws: NostrError.self, "\(variant)") { try Event(json: variant) }
        }
        // Unknown fields are ignored.
        let extra = text.replacingOccurrences(of: "{\"id\"", with: "{\"seen_on\":[\"x\"],\"id\"")
        #expect(try Event(json: extra) == good)
    }

    @Test("kind classes follow NIP-01")
    func kindClasses() {
        #expect(Kind(1).isRegular && Kind(5050).isRegular && Kind(7000).isRegular)
        #expect(Kind(0).isReplaceable && Kind(11998).isReplaceable && Kind(13194).isReplaceable)
        #expect(Kind(23194).isEphemeral && Kind(22242).isEphemeral)
        #expect(Kind(31990).isAddressable)
        #expect(Kind(5050).isJobRequest && Kind(6050).isJobResult && !Kind(7000).isJobResult)
    }

    @Test("NIP-40 expiration")
    func expiration() {
        let keypair = Keypair.generate()
        let expiring = UnsignedEvent(pubkey: keypair.publicKey, createdAt: 10, kind: 1, tags: [.expiration(100)]).sign(with: keypair)
        #expect(expiring.expiration == 100)
        #expect(!expiring.isExpired(now: 99))
        #expect(expiring.isExpired(now: 100))
        let malformed = UnsignedEvent(pubkey: keypair.publicKey, createdAt: 10, kind: 1, tags: [["expiration", "soon"]]).sign(with: keypair)
        #expect(malformed.expiration == nil)
        #expect(!malformed.isExpired(now: .max))
    }
}
