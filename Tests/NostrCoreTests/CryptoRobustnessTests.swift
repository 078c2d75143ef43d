import PropertyBased
import PylonBasics
import Testing
@testable import NostrCore

/// Garbage and mutated ciphertexts from the network must give a `NostrError`, never a trap.
@Suite("Decryption robustness")
struct DecryptionRobustnessTests {
    static let key = ConversationKey(Bytes32(hex: "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d") ?? .zero)
    static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=#?-_ \u{00E9}".unicodeScalars)

    @Test("random bytes as a NIP-44 payload")
    func nip44RandomBytes() async {
        // Given random byte strings, sent as base64 with a version byte of 2 or anything else
        await propertyCheck(count: 1500, input: Gen.uint8().array(of: 0...400)) { bytes in
            let payload = Base64.encode(bytes)
            let versioned = Base64.encode([2] + bytes)
            // When they are decrypted; Then each throws decryptionFailed
            for candidate in [payload, versioned] {
                let error = #expect(throws: NostrError.self) { try NIP44.decrypt(candidate, conversationKey: Self.key) }
                #expect(error?.code == .decryptionFailed)
            }
        }
    }

    @Test("random text as a NIP-44 payload")
    func nip44RandomText() async {
        // Given random strings over the base64 alphabet and a few characters outside it
        let text = Gen.element(of: Self.base64Alphabet).array(of: 0...300).map { scalars in
            String(String.UnicodeScalarView(scalars.compactMap { $0 }))
        }
        await propertyCheck(count: 1500, input: text) { payload in
            // When decrypted; Then it throws
            #expect(throws: NostrError.self) { try NIP44.decrypt(payload, conversationKey: Self.key) }
        }
    }

    @Test("one-character mutations of a valid NIP-44 payload")
    func nip44Mutations() async throws {
        // Given a valid payload
        let valid = try NIP44.encrypt("a job request for the DVM", conversationKey: Self.key)
        let characters = Array(valid.unicodeScalars)
        #expect(try NIP44.decrypt(valid, conversationKey: Self.key) == "a job request for the DVM")

        await propertyCheck(
            count: 2000,
            input: Gen.int(in: 0..<characters.count), Gen.element(of: Self.base64Alphabet), Gen.int(in: 0...3)
        ) { position, replacement, operation in
            // When one character is replaced, deleted, inserted, or the text truncated there
            var mutated = characters
            switch operation {
            case 0:
                guard let replacement, replacement != mutated[position] else { return }
                mutated[position] = replacement
            case 1: mutated.remove(at: position)
            case 2:
                guard let replacement else { return }
                mutated.insert(replacement, at: position)
            default: mutated.removeSubrange(position...)
            }
            let payload = String(String.UnicodeScalarView(mutated))

            // Then it throws: strict base64 has one text per byte string, and any other byte
            // string fails the MAC, the version or the length checks
            let error = #expect(throws: NostrError.self) { try NIP44.decrypt(payload, conversationKey: Self.key) }
            #expect(error?.code == .decryptionFailed)
        }
    }

    @Test("bit flips in the decoded NIP-44 payload")
    func nip44BitFlips() async throws {
        // Given the bytes of a valid payload
        let data = try #require(Base64.decode(try NIP44.encrypt("bit flips", conversationKey: Self.key)))

        await propertyCheck(count: 1500, input: Gen.int(in: 0..<data.count), Gen.int(in: 0...7)) { index, bit in
            // When one bit is flipped anywhere (version, nonce, ciphertext, MAC)
            var flipped = data
            flipped[index] ^= 1 << UInt8(bit)

            // Then decryption throws
            #expect(throws: NostrError.self) { try NIP44.decrypt(Base64.encode(flipped), conversationKey: Self.key) }
        }
    }

    @Test("random and mutated NIP-04 content")
    func nip04Garbage() async throws {
        // Given a valid NIP-04 exchange
        let alice = try SecretKey(hex: "91ba716fa9e7ea2fcbad360cf4f8e0d312f73984da63d90f524ad61a6a1e7dbe")
        let bob = try SecretKey(hex: "96f6fa197aa07477ab88f6981118466ae3a982faab8ad5db9d5426870c73d220")
        let valid = Array(try NIP04.encrypt("pay the invoice please", secretKey: alice, publicKey: bob.publicKey).unicodeScalars)
        let bobView = alice.publicKey

        // When random ciphertext/IV pairs and one-character mutations are decrypted
        await propertyCheck(
            count: 2500,
            input: Gen.uint8().array(of: 0...80), Gen.uint8().array(of: 0...20), Gen.int(in: 0..<valid.count),
            Gen.element(of: Self.base64Alphabet)
        ) { ciphertext, iv, position, replacement in
            var mutated = valid
            if let replacement { mutated[position] = replacement }
            let candidates = [
                Base64.encode(ciphertext) + "?iv=" + Base64.encode(iv),
                String(String.UnicodeScalarView(mutated)),
                String(String.UnicodeScalarView(mutated[..<position])),
            ]
            for content in candidates {
                // Then each either throws decryptionFailed or, as unauthenticated CBC allows for
                // some mutations, returns some text; it never traps
                do throws(NostrError) {
                    _ = try NIP04.decrypt(content, secretKey: bob, publicKey: bobView)
                } catch {
                    #expect(error.code == .decryptionFailed)
                }
            }
        }
    }
}
