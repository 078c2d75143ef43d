import PylonBasics
import Testing
@testable import NostrCore

/// The keys two Nostr keys share for NIP-04 and NIP-44, derived once and kept for the peers a
/// client talks to again and again.
@Suite("shared keys (NIP-04, NIP-44) and their cache")
struct SharedKeysTests {
    let alice = Keypair.generate()
    let bob = Keypair.generate()

    @Test("the kept keys read and write what NIP-04 and NIP-44 do from scratch, either way, and print nothing secret")
    func sameAsFromScratch() throws {
        // Given the keys Alice shares with Bob, and Bob's with Alice
        let aliceKeys = try SharedKeys(secretKey: alice.secretKey, peer: bob.publicKey)
        let bobKeys = try SharedKeys(secretKey: bob.secretKey, peer: alice.publicKey)
        #expect(aliceKeys.conversationKey == (try NIP44.conversationKey(secretKey: alice.secretKey, publicKey: bob.publicKey)))
        #expect(aliceKeys.conversationKey == bobKeys.conversationKey)
        for scheme in [EncryptionScheme.nip44, .nip04] {
            // When Alice encrypts with her kept keys, Bob reads it from scratch and with his
            let text = "{\"method\":\"make_invoice\",\"params\":{\"amount\":1000}} \(scheme)"
            let sealed = try aliceKeys.encrypt(text, scheme: scheme)
            #expect(try scheme.decrypt(sealed, secretKey: bob.secretKey, peer: alice.publicKey) == text)
            #expect(try bobKeys.decrypt(sealed, scheme: scheme) == text)
            // And what is encrypted from scratch reads with the kept keys
            #expect(try aliceKeys.decrypt(try scheme.encrypt(text, secretKey: bob.secretKey, peer: alice.publicKey), scheme: scheme) == text)
            // A stranger's keys do not read it
            let stranger = try SharedKeys(secretKey: Keypair.generate().secretKey, peer: alice.publicKey)
            #expect(throws: NostrError.self) { try stranger.decrypt(sealed, scheme: scheme) }
        }
        #expect("\(aliceKeys)" == "<redacted>")
        #expect(!String(reflecting: aliceKeys).contains(alice.secretKey.hex))
        #expect(String(reflecting: aliceKeys).contains("<redacted>"))
    }

    @Test("a peer's keys are derived once while kept; at most `capacity` peers are kept, the least recently used forgotten first")
    func cacheIsBounded() throws {
        var cache = SharedKeysCache(secretKey: alice.secretKey, capacity: 2)
        let carol = Keypair.generate(), dave = Keypair.generate()
        // Bob, again and again: derived once
        for _ in 0..<5 { _ = try cache.keys(with: bob.publicKey) }
        #expect(cache.derived == 1 && cache.count == 1)
        // Carol, then Bob again (so Carol is the least recently used), then Dave: Carol goes
        _ = try cache.keys(with: carol.publicKey)
        let kept = try cache.keys(with: bob.publicKey)
        #expect(kept.peer == bob.publicKey && cache.derived == 2)
        _ = try cache.keys(with: dave.publicKey)
        #expect(cache.count == 2 && cache.derived == 3)
        _ = try cache.keys(with: bob.publicKey)
        #expect(cache.derived == 3)
        _ = try cache.keys(with: carol.publicKey)
        #expect(cache.derived == 4 && cache.count == 2)
        // A capacity below one keeps one
        #expect(SharedKeysCache(secretKey: alice.secretKey, capacity: 0).capacity == 1)
    }

    @Test("a payload's scheme by its shape: NIP-04's ?iv= anywhere, else NIP-44")
    func detectScheme() throws {
        let keys = try SharedKeys(secretKey: alice.secretKey, peer: bob.publicKey)
        #expect(EncryptionScheme.detect(try keys.encrypt("hello", scheme: .nip04)) == .nip04)
        #expect(EncryptionScheme.detect(try keys.encrypt(String(repeating: "x", count: 5000), scheme: .nip44)) == .nip44)
        for text in ["?iv=", "?iv=abc", "abc?iv=", "a?i?iv=b", "é?iv=é"] { #expect(EncryptionScheme.detect(text) == .nip04, "\(text)") }
        for text in ["", "?iv", "iv=", "?i v=", "?IV=", "\0?iv", "?iv\0="] { #expect(EncryptionScheme.detect(text) == .nip44, "\(text)") }
    }

    @Test("a peer key off the curve is an error, and is not kept")
    func invalidPeer() throws {
        var cache = SharedKeysCache(secretKey: alice.secretKey, capacity: 4)
        // x = 5 is not the x of a point on secp256k1 (5³ + 7 = 132 is not a square mod p).
        let offCurve = PublicKey(try #require(Bytes32(hex: String(repeating: "0", count: 63) + "5")))
        #expect(throws: NostrError.self) { try cache.keys(with: offCurve) }
        #expect(cache.count == 0 && cache.derived == 0)
    }
}
