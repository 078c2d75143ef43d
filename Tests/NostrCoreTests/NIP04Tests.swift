import PylonBasics
import Testing
@testable import NostrCore

/// NIP-04 against the vector in `nostr-vectors.json` (nostr-tools, from go-nostr), plus malformed input.
@Suite("NIP-04")
struct NIP04Tests {
    static let vector = Vectors.nostr?.nip04.first

    @Test("the vector decrypts from both sides")
    func vectorDecrypts() throws {
        // Given the vector's keys and ciphertext
        let vector = try #require(Self.vector)
        let sk1 = try SecretKey(hex: vector.sk1), sk2 = try SecretKey(hex: vector.sk2)
        #expect(sk1.publicKey.hex == vector.pk1)

        // When the recipient (sk2, pk1) and the sender (sk1, pk2) decrypt it
        // Then both read the plaintext
        #expect(try NIP04.decrypt(vector.ciphertext, secretKey: sk2, publicKey: try PublicKey(hex: vector.pk1)) == vector.plaintext)
        #expect(try NIP04.decrypt(vector.ciphertext, secretKey: sk1, publicKey: sk2.publicKey) == vector.plaintext)
    }

    @Test("encrypting with the vector's IV reproduces its ciphertext")
    func vectorEncrypts() throws {
        // Given the sender's key, the recipient's public key and the vector's IV
        let vector = try #require(Self.vector)
        let sk1 = try SecretKey(hex: vector.sk1), sk2 = try SecretKey(hex: vector.sk2)
        let ivText = try #require(vector.ciphertext.split(separator: "?iv=").last)
        let iv = try #require(Base64.decode(ivText))

        // When it encrypts; Then the content is the vector's, byte for byte
        #expect(try NIP04.encrypt(vector.plaintext, secretKey: sk1, publicKey: sk2.publicKey, iv: iv) == vector.ciphertext)
    }

    @Test(
        "encrypt then decrypt",
        arguments: [
            "", "a", "nanana", String(repeating: "z", count: 800), "émoji 🦄 and \n newlines",
            String(repeating: "16 bytes exactly", count: 4),
        ])
    func roundTrip(_ plaintext: String) throws {
        // Given two fresh keys
        let alice = SecretKey.generate(), bob = SecretKey.generate()

        // When Alice encrypts with a random IV
        let content = try NIP04.encrypt(plaintext, secretKey: alice, publicKey: bob.publicKey)

        // Then Bob reads it, and the content has the NIP-04 shape
        #expect(try NIP04.decrypt(content, secretKey: bob, publicKey: alice.publicKey) == plaintext)
        #expect(content.contains("?iv="))
    }

    @Test("a wrong IV length is refused on encrypt")
    func wrongIVLength() {
        let alice = SecretKey.generate(), bob = SecretKey.generate()
        let error = #expect(throws: NostrError.self) {
            try NIP04.encrypt("x", secretKey: alice, publicKey: bob.publicKey, iv: [1, 2, 3])
        }
        #expect(error?.code == .encryptionFailed)
    }

    @Test(
        "malformed content fails cleanly",
        arguments: [
            "",
            "zJxfaJ32rN5Dg1ODjOlEew==",  // no ?iv=
            "zJxfaJ32rN5Dg1ODjOlEew==?iv=",  // empty IV
            "?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // empty ciphertext
            "zJxfaJ32rN5Dg1ODjOlEew==?iv=EV5bUjcc4OX2Km/zPp4n",  // 15-byte IV
            "zJxfaJ32rN5Dg1ODjOlEew==?iv=EV5bUjcc4OX2Km/zPp4ndQ==?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // two IVs
            "zJxfaJ32rN5Dg1ODjOlE?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // 15-byte ciphertext
            "zJxfaJ32rN5Dg1ODjOlEew=?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // bad base64 padding
            "zJxfaJ32rN5Dg1ODjOlEew==?iv=EV5bUjcc4OX2Km_zPp4ndQ==",  // URL-safe alphabet
            "zJxfaJ32rN5Dg1OD jOlEew==?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // space inside
            "zJxfaJ32rN5Dg1ODjOlEeA==?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // last block altered: bad padding
            "AAAAAAAAAAAAAAAAAAAAAA==?iv=EV5bUjcc4OX2Km/zPp4ndQ==",  // ciphertext of zeros
        ])
    func malformedContent(_ content: String) throws {
        // Given the vector's recipient keys and content that is not a valid NIP-04 ciphertext
        let vector = try #require(Self.vector)
        let sk2 = try SecretKey(hex: vector.sk2), pk1 = try PublicKey(hex: vector.pk1)

        // When it is decrypted; Then it throws decryptionFailed
        let error = #expect(throws: NostrError.self) { try NIP04.decrypt(content, secretKey: sk2, publicKey: pk1) }
        #expect(error?.code == .decryptionFailed)
    }

    @Test("the wrong key does not decrypt")
    func wrongKey() throws {
        // Given the vector's content and an unrelated recipient key
        let vector = try #require(Self.vector)
        let stranger = try SecretKey(hex: "0000000000000000000000000000000000000000000000000000000000000003")

        // When the stranger decrypts; Then the padding check fails
        let error = #expect(throws: NostrError.self) {
            try NIP04.decrypt(vector.ciphertext, secretKey: stranger, publicKey: try PublicKey(hex: vector.pk1))
        }
        #expect(error?.code == .decryptionFailed)
    }

    @Test("a public key off the curve is an invalid key")
    func invalidPublicKey() throws {
        let vector = try #require(Self.vector)
        let offCurve = try PublicKey(hex: String(repeating: "f", count: 64))
        let error = #expect(throws: NostrError.self) {
            try NIP04.decrypt(vector.ciphertext, secretKey: try SecretKey(hex: vector.sk2), publicKey: offCurve)
        }
        #expect(error?.code == .invalidKey)
    }
}
