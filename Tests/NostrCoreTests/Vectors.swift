import Crypto
import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// Loading of the shared vector files (`../shared/vectors`) and small helpers for the crypto tests.
///
/// Parametrized tests take their cases from these loaders at discovery time, when a failure cannot
/// be reported; so every loader returns an empty list on failure and a separate test checks each
/// file's row count, which turns a missing or unreadable file into a failing test.
enum Vectors {
    static func json<T: Decodable>(_ type: T.Type, _ file: String) -> T? {
        guard let data = try? TestPaths.vector(file) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    static let nip44: NIP44File? = json(NIP44File.self, "nip44.vectors.json")
    static let nostr: NostrFile? = json(NostrFile.self, "nostr-vectors.json")
    static let trezor: [[String]] = json(TrezorFile.self, "bip39-trezor-vectors.json")?.english ?? []

    static let bip340: [BIP340Vector] = {
        guard let data = try? TestPaths.vector("bip340-test-vectors.csv") else { return [] }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).dropFirst()
        return lines.compactMap { line in
            // index, secret key, public key, aux_rand, message, signature, result, comment (may hold commas)
            let fields = line.split(separator: ",", maxSplits: 7, omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 7, let index = Int(fields[0]) else { return nil }
            return BIP340Vector(
                index: index, secretKey: fields[1], publicKey: fields[2], auxRand: fields[3],
                message: fields[4], signature: fields[5], result: fields[6] == "TRUE",
                comment: fields.count > 7 ? fields[7] : "")
        }
    }()
}

struct TrezorFile: Decodable { let english: [[String]] }

struct BIP340Vector: Sendable, CustomTestStringConvertible {
    let index: Int
    let secretKey: String
    let publicKey: String
    let auxRand: String
    let message: String
    let signature: String
    let result: Bool
    let comment: String
    var testDescription: String { "row \(index)\(comment.isEmpty ? "" : ": \(comment)")" }
}

struct NIP44File: Decodable {
    let v2: V2
    struct V2: Decodable {
        let valid: Valid
        let invalid: Invalid
    }
    struct Valid: Decodable {
        let get_conversation_key: [ConversationKeyCase]
        let get_message_keys: MessageKeysCase
        let calc_padded_len: [[Int]]
        let encrypt_decrypt: [EncryptDecryptCase]
        let encrypt_decrypt_long_msg: [LongMessageCase]
    }
    struct Invalid: Decodable {
        let encrypt_msg_lengths: [Int]
        let get_conversation_key: [InvalidConversationKeyCase]
        let decrypt: [InvalidDecryptCase]
    }
}

struct ConversationKeyCase: Decodable, Sendable, CustomTestStringConvertible {
    let sec1: String
    let pub2: String
    let conversation_key: String
    let note: String?
    var testDescription: String { note ?? "pub2 \(pub2.prefix(16))…" }
}

struct MessageKeysCase: Decodable, Sendable {
    let conversation_key: String
    let keys: [Keys]
    struct Keys: Decodable, Sendable {
        let nonce: String
        let chacha_key: String
        let chacha_nonce: String
        let hmac_key: String
    }
}

struct EncryptDecryptCase: Decodable, Sendable, CustomTestStringConvertible {
    let sec1: String
    let sec2: String
    let conversation_key: String
    let nonce: String
    let plaintext: String
    let payload: String
    var testDescription: String { "\(plaintext.utf8.count)-byte plaintext \"\(plaintext.prefix(20))\"" }
}

struct LongMessageCase: Decodable, Sendable, CustomTestStringConvertible {
    let conversation_key: String
    let nonce: String
    let pattern: String
    let `repeat`: Int
    let plaintext_sha256: String
    let payload_sha256: String
    var testDescription: String { "\"\(pattern)\" × \(self.repeat)" }
}

struct InvalidConversationKeyCase: Decodable, Sendable, CustomTestStringConvertible {
    let sec1: String
    let pub2: String
    let note: String
    var testDescription: String { note }
}

struct InvalidDecryptCase: Decodable, Sendable, CustomTestStringConvertible {
    let conversation_key: String
    let nonce: String
    let plaintext: String
    let payload: String
    let note: String
    var testDescription: String { note }
}

struct NostrFile: Decodable {
    let nip06: [NIP06Case]
    let nip04: [NIP04Case]
}

struct NIP06Case: Decodable, Sendable, CustomTestStringConvertible {
    let mnemonic: String
    let passphrase: String
    let account: UInt32
    let sk: String
    let pk: String
    var testDescription: String { "\(mnemonic.split(separator: " ").count) words, account \(account)" }
}

struct NIP04Case: Decodable, Sendable {
    let sk1: String
    let pk1: String
    let sk2: String
    let ciphertext: String
    let plaintext: String
}

/// Hex → bytes, failing the test on malformed hex.
func bytes(_ hex: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    try #require(Hex.decode(hex), "bad hex in a vector: \(hex.prefix(20))", sourceLocation: sourceLocation)
}

/// Hex → Bytes32, failing the test on malformed hex.
func bytes32(_ hex: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bytes32 {
    try #require(Bytes32(hex: hex), "bad 32-byte hex in a vector: \(hex.prefix(20))", sourceLocation: sourceLocation)
}

/// Lowercase hex SHA-256.
func sha256Hex(_ data: some DataProtocol) -> String {
    Hex.encode(SHA256.hash(data: data))
}

@Suite("Vector files")
struct VectorFileTests {
    @Test("every vector file is found and has the expected number of cases")
    func vectorFilesLoad() throws {
        // Given the shared vector directory next to the package
        // When the loaders read it
        // Then each file yields the number of cases its source publishes
        #expect(Vectors.bip340.count == 19)
        #expect(Vectors.trezor.count == 24)
        let nip44 = try #require(Vectors.nip44)
        #expect(nip44.v2.valid.get_conversation_key.count == 35)
        #expect(nip44.v2.valid.calc_padded_len.count == 24)
        #expect(nip44.v2.valid.encrypt_decrypt.count == 10)
        #expect(nip44.v2.valid.encrypt_decrypt_long_msg.count == 3)
        #expect(nip44.v2.invalid.encrypt_msg_lengths == [0, 65536, 100000, 10000000])
        #expect(nip44.v2.invalid.get_conversation_key.count == 8)
        #expect(nip44.v2.invalid.decrypt.count == 12)
        let nostr = try #require(Vectors.nostr)
        #expect(nostr.nip06.count == 2)
        #expect(nostr.nip04.count == 1)
    }

    @Test("the NIP-44 vector file is the published one")
    func nip44FileChecksum() throws {
        // Given the vector file; Then its sha256 is the checksum published in NIP-44
        #expect(sha256Hex(try TestPaths.vector("nip44.vectors.json")) == "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040")
    }
}
