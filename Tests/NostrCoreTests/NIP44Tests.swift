import Foundation
import PylonBasics
import Testing
@testable import NostrCore

/// NIP-44 v2 against the whole of paulmillr/nip44 `nip44.vectors.json`, plus the extended-length
/// checksums that NIP-44 publishes for 65535, 65536 and 65537 bytes.
@Suite("NIP-44 v2")
struct NIP44Tests {
    static let valid = Vectors.nip44?.v2.valid
    static let invalid = Vectors.nip44?.v2.invalid

    // MARK: valid

    @Test("conversation keys", arguments: valid?.get_conversation_key ?? [])
    func conversationKey(_ vector: ConversationKeyCase) throws {
        // Given a secret key and a public key from the vectors
        let secretKey = try SecretKey(hex: vector.sec1)
        let publicKey = try PublicKey(hex: vector.pub2)

        // When the conversation key is derived
        let key = try NIP44.conversationKey(secretKey: secretKey, publicKey: publicKey)

        // Then it is the published one
        #expect(key.bytes.hex == vector.conversation_key)
    }

    @Test("message keys")
    func messageKeys() throws {
        // Given the conversation key and each nonce of the vectors
        let vector = try #require(Self.valid?.get_message_keys)
        let key = ConversationKey(try bytes32(vector.conversation_key))
        #expect(!vector.keys.isEmpty)
        for expected in vector.keys {
            // When the message keys are expanded
            let keys = NIP44.messageKeys(conversationKey: key, nonce: try bytes32(expected.nonce))

            // Then the three slices are the published ones
            #expect(Hex.encode(keys.chachaKey) == expected.chacha_key)
            #expect(Hex.encode(keys.chachaNonce) == expected.chacha_nonce)
            #expect(Hex.encode(keys.hmacKey) == expected.hmac_key)
        }
    }

    @Test("padded lengths", arguments: valid?.calc_padded_len ?? [])
    func paddedLength(_ pair: [Int]) throws {
        // Given an unpadded length; Then calc_padded_len gives the published padded length
        try #require(pair.count == 2)
        #expect(NIP44.calcPaddedLength(pair[0]) == pair[1])
    }

    @Test("encrypt with the given nonce, then decrypt from the other side", arguments: valid?.encrypt_decrypt ?? [])
    func encryptDecrypt(_ vector: EncryptDecryptCase) throws {
        // Given both secret keys of a conversation
        let sec1 = try SecretKey(hex: vector.sec1)
        let sec2 = try SecretKey(hex: vector.sec2)

        // When the sender derives the key from (sec1, pub2) and encrypts with the vector's nonce
        let senderKey = try NIP44.conversationKey(secretKey: sec1, publicKey: sec2.publicKey)
        let payload = try NIP44.encrypt(vector.plaintext, conversationKey: senderKey, nonce: try bytes32(vector.nonce))

        // Then key and payload are the published ones
        #expect(senderKey.bytes.hex == vector.conversation_key)
        #expect(payload == vector.payload)

        // And the recipient, from (sec2, pub1), gets the same key and the plaintext back
        let recipientKey = try NIP44.conversationKey(secretKey: sec2, publicKey: sec1.publicKey)
        #expect(recipientKey == senderKey)
        #expect(try NIP44.decrypt(payload, conversationKey: recipientKey) == vector.plaintext)
    }

    @Test("long messages match the published checksums", arguments: valid?.encrypt_decrypt_long_msg ?? [])
    func longMessage(_ vector: LongMessageCase) throws {
        // Given the pattern repeated as the vector says
        let plaintext = String(repeating: vector.pattern, count: vector.repeat)
        #expect(sha256Hex(Array(plaintext.utf8)) == vector.plaintext_sha256)
        let key = ConversationKey(try bytes32(vector.conversation_key))

        // When it is encrypted with the vector's nonce
        let payload = try NIP44.encrypt(plaintext, conversationKey: key, nonce: try bytes32(vector.nonce))

        // Then the payload's checksum matches and it decrypts back
        #expect(sha256Hex(Array(payload.utf8)) == vector.payload_sha256)
        #expect(try NIP44.decrypt(payload, conversationKey: key) == plaintext)
    }

    struct ExtendedCase: Sendable, CustomTestStringConvertible {
        let length: Int
        let plaintextSHA256: String
        let payloadSHA256: String
        var testDescription: String { "\(length) bytes" }
    }

    /// From NIP-44, "Extended length prefix test vectors": plaintext "a" × length, the conversation
    /// key and nonce of the first encrypt_decrypt vector.
    static let extended = [
        ExtendedCase(
            length: 65535, plaintextSHA256: "6e1bebca6a8229364a162a72ef064826c4cd7457bf54f190ef782bd9deff3e42",
            payloadSHA256: "6d8c2810d1e870fbaa1f0a0937126cca837a15f9260e27060c331d70a3c0bc84"),
        ExtendedCase(
            length: 65536, plaintextSHA256: "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a",
            payloadSHA256: "b7b4edb36ba92e267d322d56d9aebc22e7fa96ff52e3c12adc07f07a43cbc616"),
        ExtendedCase(
            length: 65537, plaintextSHA256: "008ffc88d3c96a9f307524eb361e47c5222a887fc45fa0c1fb8d429c5c23b430",
            payloadSHA256: "eeb7c7c5373894ea2c1547cfd3ccb15d5a0b2d619da852e5c79df792dcc9e435"),
    ]

    @Test("the extended length prefix around 64 KiB matches NIP-44's checksums", arguments: extended)
    func extendedLengthPrefix(_ vector: ExtendedCase) throws {
        // Given "a" repeated across the u16/u32 prefix boundary
        let plaintext = String(repeating: "a", count: vector.length)
        #expect(sha256Hex(Array(plaintext.utf8)) == vector.plaintextSHA256)
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        let nonce = try bytes32("0000000000000000000000000000000000000000000000000000000000000001")

        // When it is encrypted
        let payload = try NIP44.encrypt(plaintext, conversationKey: key, nonce: nonce)

        // Then the payload is NIP-44's, and it decrypts back through the matching prefix form
        #expect(sha256Hex(Array(payload.utf8)) == vector.payloadSHA256)
        #expect(try NIP44.decrypt(payload, conversationKey: key) == plaintext)
    }

    // MARK: invalid

    @Test("message lengths outside what encrypt accepts", arguments: invalid?.encrypt_msg_lengths ?? [])
    func encryptMessageLength(_ length: Int) throws {
        // Given a plaintext of a length the vector file lists as invalid
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        let plaintext = String(repeating: "a", count: length)

        if length == 65536 {
            // The vector file predates the 2026 extended-length rule (nostr-protocol/nips #1907,
            // protocols.md §5.3), under which 65536 bytes is valid and carries the 6-byte prefix
            // [0, 0] ‖ u32. We follow the current NIP: it encrypts, uses the extended prefix, and
            // decrypts back.
            let payload = try NIP44.encrypt(plaintext, conversationKey: key)
            let padded = try decryptToPadded(payload, key: key)
            #expect(Array(padded.prefix(6)) == [0, 0, 0, 1, 0, 0])
            #expect(try NIP44.decrypt(payload, conversationKey: key) == plaintext)
        } else {
            // 0 is below NIP-44's minimum. 100000 and 10000000 are legal under the extended rule, but
            // above NIP44.maxPlaintextLength (81920: the largest payload a 128 KiB relay event holds),
            // so encrypt refuses them, which keeps these vectors invalid here.
            #expect(length == 0 || length > NIP44.maxPlaintextLength)
            let error = #expect(throws: NostrError.self) {
                try NIP44.encrypt(plaintext, conversationKey: key)
            }
            #expect(error?.code == .encryptionFailed)
        }
    }

    @Test("invalid key pairs give no conversation key", arguments: invalid?.get_conversation_key ?? [])
    func invalidConversationKey(_ vector: InvalidConversationKeyCase) {
        // Given a secret key out of range or a public key off the curve
        // When a conversation key is asked for (parsing included)
        // Then it throws instead of producing a key
        let error = #expect(throws: NostrError.self) {
            let secretKey = try SecretKey(hex: vector.sec1)
            let publicKey = try PublicKey(hex: vector.pub2)
            _ = try NIP44.conversationKey(secretKey: secretKey, publicKey: publicKey)
        }
        #expect(error?.code == .invalidKey)
    }

    @Test("invalid payloads do not decrypt", arguments: invalid?.decrypt ?? [])
    func invalidDecrypt(_ vector: InvalidDecryptCase) throws {
        // Given a malformed, tampered or foreign payload
        let key = ConversationKey(try bytes32(vector.conversation_key))

        // When it is decrypted; Then it throws decryptionFailed
        let error = #expect(throws: NostrError.self) {
            try NIP44.decrypt(vector.payload, conversationKey: key)
        }
        #expect(error?.code == .decryptionFailed)
    }

    // MARK: behaviour beyond the vectors

    @Test("a random nonce gives a different payload each time, both decrypt")
    func randomNonce() throws {
        // Given a conversation between two fresh keys
        let alice = SecretKey.generate(), bob = SecretKey.generate()
        let key = try NIP44.conversationKey(secretKey: alice, publicKey: bob.publicKey)

        // When the same message is encrypted twice without a nonce
        let first = try NIP44.encrypt("hello, DVM", conversationKey: key)
        let second = try NIP44.encrypt("hello, DVM", conversationKey: key)

        // Then the payloads differ and both decrypt on the other side
        #expect(first != second)
        let bobKey = try NIP44.conversationKey(secretKey: bob, publicKey: alice.publicKey)
        #expect(try NIP44.decrypt(first, conversationKey: bobKey) == "hello, DVM")
        #expect(try NIP44.decrypt(second, conversationKey: bobKey) == "hello, DVM")
    }

    @Test("payloads are rejected by length before decoding")
    func payloadLengthBounds() throws {
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        // Given payloads just outside the accepted range; Then both throw
        #expect(throws: NostrError.self) { try NIP44.decrypt(String(repeating: "A", count: 131), conversationKey: key) }
        #expect(throws: NostrError.self) {
            try NIP44.decrypt(String(repeating: "A", count: NIP44.maxPayloadLength + 4), conversationKey: key)
        }
        // And the largest plaintext encrypt accepts fits in a 128 KiB event
        let payload = try NIP44.encrypt(String(repeating: "z", count: NIP44.maxPlaintextLength), conversationKey: key)
        #expect(payload.utf8.count == 109_324)
        #expect(payload.utf8.count < 131_072 - 1024)
    }

    @Test("a u16 length of zero without a large u32 is invalid padding")
    func zeroLengthIsRejected() throws {
        // Given a correctly authenticated payload whose padded block claims an empty plaintext
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        let payload = try sealPadded([UInt8](repeating: 0, count: 34), key: key)

        // When it is decrypted; Then the padding check rejects it
        let error = #expect(throws: NostrError.self) { try NIP44.decrypt(payload, conversationKey: key) }
        #expect(error?.message.contains("padding") == true)
    }

    @Test("an authenticated plaintext that is not UTF-8 is rejected")
    func invalidUTF8IsRejected() throws {
        // Given a correctly padded and authenticated block holding the byte 0xFF
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        let payload = try sealPadded(NIP44.pad([0xFF]), key: key)

        // When it is decrypted; Then it throws instead of returning replacement characters
        let error = #expect(throws: NostrError.self) { try NIP44.decrypt(payload, conversationKey: key) }
        #expect(error?.message.contains("UTF-8") == true)
    }

    @Test("conversation keys never print")
    func conversationKeyIsRedacted() throws {
        let key = ConversationKey(try bytes32("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"))
        #expect("\(key)" == "<redacted>")
        #expect(!String(reflecting: key).contains("c41c"))
    }

    // MARK: helpers

    /// Encrypts and MACs arbitrary padded bytes, to build payloads encrypt itself would refuse.
    private func sealPadded(_ padded: [UInt8], key: ConversationKey) throws -> String {
        let nonce = try bytes32("0000000000000000000000000000000000000000000000000000000000000007")
        let keys = NIP44.messageKeys(conversationKey: key, nonce: nonce)
        let ciphertext = try NIP44.chacha20(padded, keys: keys, failure: .encryptionFailed)
        let mac = NIP44.hmac(keys: keys, nonce: nonce, ciphertext: ciphertext[...])
        return Base64.encode([2] + nonce.bytes + ciphertext + mac)
    }

    /// The padded block inside a payload, for checking the prefix form.
    private func decryptToPadded(_ payload: String, key: ConversationKey) throws -> [UInt8] {
        let data = try #require(Base64.decode(payload))
        let nonce = try #require(Bytes32(data[1..<33]))
        let keys = NIP44.messageKeys(conversationKey: key, nonce: nonce)
        return try NIP44.chacha20(Array(data[33..<(data.count - 32)]), keys: keys, failure: .decryptionFailed)
    }
}
