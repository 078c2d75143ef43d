import Foundation
import NostrCore
import PylonTestSupport
import Testing

@Suite("NIP-19 entities")
struct NIP19Tests {
    @Test("every vector encodes and decodes")
    func vectors() throws {
        let root = try #require(try TestPaths.vectorJSON("nostr-vectors.json") as? [String: Any])
        let vectors = try #require(root["nip19"] as? [[String: Any]])
        #expect(vectors.count >= 7)
        for vector in vectors {
            let bech32 = try #require(vector["bech32"] as? String)
            let entity = try NIP19(bech32)
            #expect(entity.encoded == bech32)
            switch (vector["type"] as? String, entity) {
            case ("npub", .npub(let key)): #expect(key.hex == vector["hex"] as? String)
            case ("nsec", .nsec(let key)): #expect(key.hex == vector["hex"] as? String)
            case ("note", .note(let id)): #expect(id.hex == vector["hex"] as? String)
            case ("nprofile", .nprofile(let key, let relays)):
                #expect(key.hex == vector["pubkey"] as? String)
                #expect(relays == vector["relays"] as? [String])
            default: Issue.record("unexpected entity \(vector)")
            }
        }
        let nip06 = try #require(root["nip06"] as? [[String: Any]])
        for vector in nip06 {
            let key = try SecretKey(hex: try #require(vector["sk"] as? String))
            #expect(key.nsec == vector["nsec"] as? String)
            #expect(key.publicKey.npub == vector["npub"] as? String)
        }
    }

    @Test("nevent and naddr round-trip; unknown TLVs are ignored")
    func tlvEntities() throws {
        let key = Keypair.generate().publicKey
        let id = UnsignedEvent(pubkey: key, createdAt: 1, kind: 1).id
        let nevent = NIP19.nevent(id, relays: ["wss://a.example", "wss://b.example"], author: key, kind: 5050)
        #expect(try NIP19(nevent.encoded) == nevent)
        let naddr = NIP19.naddr(identifier: "pylon-abc", pubkey: key, kind: 31990, relays: ["wss://r.example"])
        #expect(try NIP19(naddr.encoded) == naddr)
        // An nprofile with an extra TLV of type 9 still decodes.
        let data: [UInt8] = [0, 32] + key.bytes + [9, 3, 1, 2, 3]
        let text = Bech32.encode(hrp: "nprofile", data: data)
        #expect(try NIP19(text) == .nprofile(key, relays: []))
        #expect(try NIP19("nostr:" + key.npub) == .npub(key))
    }

    @Test("long entities up to 5000 characters decode; longer ones are rejected")
    func lengthLimit() throws {
        let key = Keypair.generate().publicKey
        let relays = (0..<10).map { "wss://relay-\($0).example.com/" + String(repeating: "x", count: 200) }
        let long = NIP19.nprofile(key, relays: relays).encoded
        #expect(long.count > 90 && long.count <= 5000)
        #expect(try NIP19(long) == .nprofile(key, relays: relays))
        let tooLong = Bech32.encode(hrp: "nprofile", data: [UInt8](repeating: 1, count: 3200))
        #expect(tooLong.count > 5000)
        #expect(throws: NostrError.self) { try NIP19(tooLong) }
    }

    @Test(
        "bad entities are errors",
        arguments: [
            "", "npub", "npub1", "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w7",
            "NPUB180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6".lowercased().uppercased().replacingOccurrences(of: "W6", with: "w6"),
            "npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsp6w6qx", "nsec1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqcjkt2e",
            "xyz1qqqqqqqq", "note1bbbbbb", "npub1é",
        ])
    func invalid(text: String) {
        #expect(throws: NostrError.self) { try NIP19(text) }
    }

    @Test("uppercase entities decode")
    func uppercase() throws {
        let text = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"
        #expect(try NIP19(text.uppercased()) == NIP19(text))
    }
}
