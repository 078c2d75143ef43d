import Foundation
import PylonBasics
import PylonTestSupport
import Testing
@testable import NostrCore

struct TrezorCase: Sendable, CustomTestStringConvertible {
    let entropy: String
    let mnemonic: String
    let seed: String
    let xprv: String
    var testDescription: String { "\(entropy.count * 4)-bit entropy \(entropy.prefix(8))…" }

    static let all: [TrezorCase] = Vectors.trezor.compactMap { row in
        row.count == 4 ? TrezorCase(entropy: row[0], mnemonic: row[1], seed: row[2], xprv: row[3]) : nil
    }
}

/// BIP-39 against the Trezor English vectors, plus the validation messages users see.
@Suite("BIP-39 mnemonics")
struct BIP39Tests {
    @Test("entropy → phrase → seed → master xprv", arguments: TrezorCase.all)
    func trezorVector(_ vector: TrezorCase) throws {
        // Given the vector's entropy
        let entropy = try bytes(vector.entropy)

        // When it becomes a phrase, and the phrase is parsed back
        let fromEntropy = try Mnemonic(entropy: entropy)
        let parsed = try Mnemonic(phrase: vector.mnemonic)

        // Then the phrase is the vector's and both directions agree
        #expect(fromEntropy.phrase == vector.mnemonic)
        #expect(parsed.entropy == entropy)
        #expect(parsed == fromEntropy)

        // And the seed with passphrase "TREZOR" and its BIP-32 master key are the vector's
        let seed = parsed.seed(passphrase: "TREZOR")
        #expect(Hex.encode(seed) == vector.seed)
        #expect(try ExtendedPrivateKey.master(seed: seed).xprv == vector.xprv)
    }

    @Test("the embedded word list is the BIP-39 English list byte for byte")
    func wordListChecksum() throws {
        // Given the embedded words joined as the file lays them out (one per line, trailing newline)
        let joined = BIP39.englishWords.joined(separator: "\n") + "\n"

        // Then they hash to the published checksum, and to the shared file's
        #expect(BIP39.englishWords.count == 2048)
        #expect(sha256Hex(Array(joined.utf8)) == "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda")
        #expect(sha256Hex(Array(joined.utf8)) == sha256Hex(try TestPaths.vector("bip39-english.txt")))
    }

    @Test("a bad checksum names the checksum")
    func badChecksum() {
        // Given twelve valid words whose checksum does not match
        let phrase = Array(repeating: "abandon", count: 12).joined(separator: " ")

        // When it is parsed; Then the error says the checksum does not match
        let error = #expect(throws: NostrError.self) { try Mnemonic(phrase: phrase) }
        #expect(error?.code == .invalidMnemonic)
        #expect(error?.message.contains("checksum does not match") == true)
    }

    @Test("an unknown word is named with its position")
    func unknownWord() {
        // Given a phrase with a typo in the third word
        let phrase = "abandon abandon abandn abandon abandon abandon abandon abandon abandon abandon abandon about"

        // When it is parsed; Then the error names word 3 and the typo
        let error = #expect(throws: NostrError.self) { try Mnemonic(phrase: phrase) }
        #expect(error?.code == .invalidMnemonic)
        #expect(error?.message == "word 3, \"abandn\", is not in the BIP-39 English list")
    }

    @Test("a wrong word count says which counts are allowed", arguments: [0, 1, 11, 13, 23, 25])
    func wrongCount(_ count: Int) {
        // Given a phrase of the wrong length
        let phrase = Array(repeating: "abandon", count: count).joined(separator: " ")

        // When it is parsed; Then the error lists the allowed counts
        let error = #expect(throws: NostrError.self) { try Mnemonic(phrase: phrase) }
        #expect(error?.code == .invalidMnemonic)
        #expect(error?.message.contains("12, 15, 18, 21 or 24 words") == true)
    }

    @Test("wrong entropy lengths are refused", arguments: [0, 15, 17, 33, 64])
    func wrongEntropyLength(_ count: Int) {
        let error = #expect(throws: NostrError.self) { try Mnemonic(entropy: [UInt8](repeating: 7, count: count)) }
        #expect(error?.code == .invalidMnemonic)
    }

    @Test("case, extra whitespace and compatibility forms are normalized")
    func normalization() throws {
        // Given the canonical phrase and the same words typed sloppily: capitals, tabs, newlines,
        // repeated and non-breaking spaces, fullwidth letters (NFKD maps them to ASCII)
        let canonical = try Mnemonic(phrase: "legal winner thank year wave sausage worth useful legal winner thank yellow")
        let sloppy = "  LEGAL\twinner \n\nThank  year\u{00A0}wave sausage worth useful legal ｗｉｎｎｅｒ THANK yellow \n"

        // When the sloppy text is parsed
        let parsed = try Mnemonic(phrase: sloppy)

        // Then it is the same mnemonic with the same seed
        #expect(parsed == canonical)
        #expect(parsed.phrase == canonical.phrase)
        #expect(parsed.seed(passphrase: "TREZOR") == canonical.seed(passphrase: "TREZOR"))
    }

    @Test("passphrases are NFKD-normalized")
    func passphraseNormalization() throws {
        // Given one passphrase in composed and in decomposed form
        let mnemonic = try Mnemonic(phrase: "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")

        // Then both give the same seed, which differs from the seed without passphrase
        #expect(mnemonic.seed(passphrase: "caf\u{E9}") == mnemonic.seed(passphrase: "cafe\u{301}"))
        #expect(mnemonic.seed(passphrase: "caf\u{E9}") != mnemonic.seed())
    }

    @Test("generated phrases round-trip through parsing", arguments: [12, 15, 18, 21, 24])
    func generateRoundTrip(_ wordCount: Int) throws {
        // Given a freshly generated phrase
        let generated = Mnemonic.generate(wordCount: wordCount)

        // When its text is parsed again
        let parsed = try Mnemonic(phrase: generated.phrase)

        // Then it has the requested size and is the same mnemonic
        #expect(generated.words.count == wordCount)
        #expect(generated.entropy.count == wordCount / 3 * 4)
        #expect(parsed == generated)
        #expect(parsed.entropy == generated.entropy)
    }

    @Test("two generated phrases differ")
    func generateIsRandom() {
        #expect(Mnemonic.generate() != Mnemonic.generate(wordCount: 12))
        #expect(Mnemonic.generate().words.count == 12)
    }

    @Test("a mnemonic never prints its words")
    func redaction() throws {
        // Given a mnemonic
        let mnemonic = try Mnemonic(phrase: "legal winner thank year wave sausage worth useful legal winner thank yellow")

        // Then every way of printing it hides the words
        #expect("\(mnemonic)" == "<redacted>")
        #expect(String(reflecting: mnemonic) == "<redacted>")
        #expect(!"\([mnemonic])".contains("legal"))
        #expect(!"\(try ExtendedPrivateKey.master(seed: mnemonic.seed()))".contains("xprv"))
    }
}

struct BIP32Case: Sendable, CustomTestStringConvertible {
    let seed: String
    let path: String
    let xprv: String
    var testDescription: String { "seed \(seed.prefix(8))… \(path)" }
}

/// BIP-32 private derivation against the test vectors of the BIP-32 text.
@Suite("BIP-32 derivation")
struct BIP32Tests {
    static let vector1 = "000102030405060708090a0b0c0d0e0f"
    static let vector2 = "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
    static let vector3 = "4b381541583be4423346c643850da4b320e46a87ae3d2a4e6da11eba819cd4acba45d239319ac14f863b8d5ab5a0d0c64d2e8a1e7d1457df2e5a3c51c73235be"
    static let vector4 = "3ddd5602285899a946114506157c7997e5444528f3003f6134712147db19b678"

    /// BIP-32 test vectors 1-4 (vector 3 and 4 check that leading zeros are kept).
    static let cases: [BIP32Case] = [
        .init(seed: vector1, path: "m", xprv: "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
        .init(seed: vector1, path: "m/0'", xprv: "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"),
        .init(seed: vector1, path: "m/0'/1", xprv: "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"),
        .init(seed: vector1, path: "m/0'/1/2'", xprv: "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"),
        .init(seed: vector1, path: "m/0'/1/2'/2", xprv: "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"),
        .init(seed: vector1, path: "m/0'/1/2'/2/1000000000", xprv: "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"),
        .init(seed: vector2, path: "m", xprv: "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"),
        .init(seed: vector2, path: "m/0", xprv: "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt"),
        .init(seed: vector2, path: "m/0/2147483647'", xprv: "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9"),
        .init(seed: vector2, path: "m/0/2147483647'/1", xprv: "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef"),
        .init(seed: vector2, path: "m/0/2147483647'/1/2147483646'", xprv: "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc"),
        .init(seed: vector2, path: "m/0/2147483647'/1/2147483646'/2", xprv: "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j"),
        .init(seed: vector3, path: "m", xprv: "xprv9s21ZrQH143K25QhxbucbDDuQ4naNntJRi4KUfWT7xo4EKsHt2QJDu7KXp1A3u7Bi1j8ph3EGsZ9Xvz9dGuVrtHHs7pXeTzjuxBrCmmhgC6"),
        .init(seed: vector3, path: "m/0'", xprv: "xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L"),
        .init(seed: vector4, path: "m", xprv: "xprv9s21ZrQH143K48vGoLGRPxgo2JNkJ3J3fqkirQC2zVdk5Dgd5w14S7fRDyHH4dWNHUgkvsvNDCkvAwcSHNAQwhwgNMgZhLtQC63zxwhQmRv"),
        .init(seed: vector4, path: "m/0h", xprv: "xprv9vB7xEWwNp9kh1wQRfCCQMnZUEG21LpbR9NPCNN1dwhiZkjjeGRnaALmPXCX7SgjFTiCTT6bXes17boXtjq3xLpcDjzEuGLQBM5ohqkao9G"),
        .init(seed: vector4, path: "m/0H/1h", xprv: "xprv9xJocDuwtYCMNAo3Zw76WENQeAS6WGXQ55RCy7tDJ8oALr4FWkuVoHJeHVAcAqiZLE7Je3vZJHxspZdFHfnBEjHqU5hG1Jaj32dVoS6XLT1"),
    ]

    @Test("extended private keys along a path", arguments: cases)
    func derivation(_ vector: BIP32Case) throws {
        // Given the master key of the seed
        let master = try ExtendedPrivateKey.master(seed: try bytes(vector.seed))

        // When it derives along the path; Then the serialized key is the vector's
        #expect(try master.derive(path: vector.path).xprv == vector.xprv)
    }

    @Test("child() steps equal a parsed path")
    func childMatchesPath() throws {
        let master = try ExtendedPrivateKey.master(seed: try bytes(Self.vector1))
        let stepped = try master.child(0, hardened: true).child(1, hardened: false).child(2, hardened: true)
        #expect(stepped.xprv == (try master.derive(path: "m/0'/1/2'")).xprv)
        #expect(stepped.secretKey == (try master.derive(path: "m/0h/1/2H")).secretKey)
    }

    @Test(
        "malformed paths are refused",
        arguments: ["", "M/0", "0/1", "m/", "m//0", "m/-1", "m/+1", "m/0''", "m/2147483648", "m/99999999999", "m/1x", "m/ 1", "m/０"])
    func malformedPath(_ path: String) throws {
        let master = try ExtendedPrivateKey.master(seed: try bytes(Self.vector1))
        let error = #expect(throws: NostrError.self) { try master.derive(path: path) }
        #expect(error?.code == .invalidField)
    }

    @Test("child indices of 2^31 and above are refused")
    func indexOutOfRange() throws {
        let master = try ExtendedPrivateKey.master(seed: try bytes(Self.vector1))
        #expect(throws: NostrError.self) { try master.child(0x8000_0000, hardened: false) }
        #expect(throws: NostrError.self) { try master.child(.max, hardened: true) }
    }

    @Test("seeds outside 16...64 bytes are refused", arguments: [0, 15, 65])
    func seedLength(_ count: Int) {
        #expect(throws: NostrError.self) { try ExtendedPrivateKey.master(seed: [UInt8](repeating: 1, count: count)) }
    }

    @Test("RIPEMD-160 matches the test vectors of its paper")
    func ripemd160() {
        let cases: [(String, String)] = [
            ("", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
            ("a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"),
            ("abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
            ("message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
            ("abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "12a053384a9c0c88e405a06c27dcf49ada62eb2b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "b0e20b6e3116640286ed3a87a5713079b21f5189"),
            (String(repeating: "1234567890", count: 8), "9b752e45573d4b39f4dbd3323cab82bf63326bfb"),
        ]
        for (message, digest) in cases {
            #expect(Hex.encode(RIPEMD160.hash(Array(message.utf8))) == digest, "RIPEMD-160 of \"\(message)\"")
        }
        #expect(Hex.encode(RIPEMD160.hash([UInt8](repeating: 0x61, count: 1_000_000))) == "52783243c1697bdbe16d37f97f68f08325dc1528")
    }

    @Test("Base58 keeps leading zero bytes as 1s")
    func base58() {
        #expect(Base58.encode([]) == "")
        #expect(Base58.encode([0]) == "1")
        #expect(Base58.encode([0, 0, 1]) == "112")
        #expect(Base58.encode(Array("hello world".utf8)) == "StV1DL6CwTryKyV")
        #expect(Base58.encode([0xFF, 0xFF]) == "LUv")
    }
}
