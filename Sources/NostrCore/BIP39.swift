internal import Crypto
internal import CryptoExtras
internal import Foundation
public import PylonBasics

/// BIP-39 mnemonic phrases with the English word list, as NIP-06 identities use them.
public enum BIP39 {
    /// The BIP-39 English word list, 2048 words in order, embedded in the binary.
    public static let englishWords: [String] = englishText.split(whereSeparator: \.isWhitespace).map(String.init)

    /// Word → index, for validating phrases.
    static let englishIndex: [String: Int] = {
        var index = [String: Int](minimumCapacity: englishWords.count)
        for (i, word) in englishWords.enumerated() { index[word] = i }
        return index
    }()

    /// The phrase lengths BIP-39 defines: 128 to 256 bits of entropy in steps of 32.
    public static let wordCounts = [12, 15, 18, 21, 24]

    /// The entropy lengths BIP-39 defines, in bytes.
    public static let entropyByteCounts = [16, 20, 24, 28, 32]

    /// NFKD, the normalization BIP-39 applies to phrases and passphrases before hashing.
    static func nfkd(_ text: String) -> String { text.decomposedStringWithCompatibilityMapping }
}

/// A BIP-39 mnemonic phrase (English word list) and the entropy it encodes.
///
/// It is the root secret of a NIP-06 identity: `description` and `debugDescription` print
/// `<redacted>` and `==` runs in constant time over the normalized phrase. Use ``phrase`` only where
/// the user asked to see or export it.
public struct Mnemonic: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The normalized phrase as UTF-8: lowercase English words joined by single spaces. This is also
    /// the PBKDF2 password, so it is kept rather than recomputed.
    private let phraseBytes: [UInt8]

    /// The entropy the phrase encodes: 16, 20, 24, 28 or 32 bytes.
    public let entropy: [UInt8]

    /// Parses and validates a phrase typed or pasted by a person.
    ///
    /// The text is lowercased and NFKD-normalized, and words may be separated by any whitespace
    /// (spaces, tabs, newlines, several in a row). The phrase must have 12, 15, 18, 21 or 24 words,
    /// each in the English list, and its checksum must match. Failures throw
    /// ``NostrError/Code/invalidMnemonic`` with a message saying what to fix.
    public init(phrase: String) throws(NostrError) {
        let normalized = BIP39.nfkd(phrase.lowercased())
        let words = normalized.split(whereSeparator: \.isWhitespace)
        guard BIP39.wordCounts.contains(words.count) else {
            throw NostrError(
                .invalidMnemonic,
                "a BIP-39 phrase has 12, 15, 18, 21 or 24 words, but this one has \(words.count)")
        }
        var indices = [Int]()
        indices.reserveCapacity(words.count)
        for (position, word) in words.enumerated() {
            guard let index = BIP39.englishIndex[String(word)] else {
                throw NostrError(
                    .invalidMnemonic,
                    "word \(position + 1), \"\(Self.printable(word))\", is not in the BIP-39 English list")
            }
            indices.append(index)
        }

        // 11 bits per word: the entropy, then one checksum bit per 32 bits of entropy.
        let totalBits = indices.count * 11
        let checksumBits = totalBits / 33
        let entropyCount = (totalBits - checksumBits) / 8
        var packed = [UInt8](repeating: 0, count: (totalBits + 7) / 8)
        for (i, index) in indices.enumerated() {
            for bit in 0..<11 where index & (1 << (10 - bit)) != 0 {
                let offset = i * 11 + bit
                packed[offset / 8] |= 0x80 >> UInt8(offset % 8)
            }
        }
        let entropy = Array(packed[0..<entropyCount])
        let expected = Self.checksumByte(entropy) >> UInt8(8 - checksumBits)
        let actual = packed[entropyCount] >> UInt8(8 - checksumBits)
        guard expected == actual else {
            throw NostrError(
                .invalidMnemonic,
                "the BIP-39 checksum does not match; a word is probably mistyped, swapped or missing")
        }
        self.init(validEntropy: entropy)
    }

    /// The phrase for 16, 20, 24, 28 or 32 bytes of entropy (12 to 24 words).
    public init(entropy: [UInt8]) throws(NostrError) {
        guard BIP39.entropyByteCounts.contains(entropy.count) else {
            throw NostrError(
                .invalidMnemonic,
                "BIP-39 entropy is 16, 20, 24, 28 or 32 bytes, got \(entropy.count)")
        }
        self.init(validEntropy: entropy)
    }

    /// Builds the phrase for entropy whose length is already checked.
    private init(validEntropy entropy: [UInt8]) {
        let checksumBits = entropy.count / 4  // one bit per 32 bits of entropy
        let bits = entropy + [Self.checksumByte(entropy)]
        let wordCount = (entropy.count * 8 + checksumBits) / 11
        var words = [String]()
        words.reserveCapacity(wordCount)
        for i in 0..<wordCount {
            var index = 0
            for bit in 0..<11 {
                let offset = i * 11 + bit
                index = index << 1 | Int(bits[offset / 8] >> UInt8(7 - offset % 8) & 1)
            }
            words.append(BIP39.englishWords[index])
        }
        self.entropy = entropy
        self.phraseBytes = Array(words.joined(separator: " ").utf8)
    }

    /// A new phrase from the operating system's secure random generator.
    ///
    /// - Precondition: `wordCount` is 12, 15, 18, 21 or 24 (a programming choice, not user input:
    ///   callers map `--words` to one of these first).
    public static func generate(wordCount: Int = 12) -> Mnemonic {
        precondition(BIP39.wordCounts.contains(wordCount), "BIP-39 phrases have 12, 15, 18, 21 or 24 words")
        return Mnemonic(validEntropy: SecureRandom.bytes(wordCount / 3 * 4))
    }

    /// The words of the phrase, lowercase.
    public var words: [String] {
        String(decoding: phraseBytes, as: UTF8.self).split(separator: " ").map(String.init)
    }

    /// The words joined by single spaces; for explicit export only (showing it once at `init`,
    /// writing the identity file).
    public var phrase: String { String(decoding: phraseBytes, as: UTF8.self) }

    /// The 64-byte BIP-39 seed: PBKDF2-HMAC-SHA512 with the normalized phrase as password, salt
    /// `"mnemonic" + NFKD(passphrase)` and 2048 rounds.
    public func seed(passphrase: String = "") -> [UInt8] {
        let salt = Array(("mnemonic" + BIP39.nfkd(passphrase)).utf8)
        do {
            // BIP-39 fixes 2048 rounds; the checked `rounds:` variant refuses fewer than 210,000.
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: phraseBytes, salt: salt, using: .sha512, outputByteCount: 64, unsafeUncheckedRounds: 2048)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            // BoringSSL's PBKDF2 fails only when it cannot allocate; the inputs cannot make it fail.
            preconditionFailure("PBKDF2-HMAC-SHA512 failed inside the crypto library")
        }
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Constant-time comparison of the normalized phrases (only their lengths leak).
    public static func == (lhs: Mnemonic, rhs: Mnemonic) -> Bool {
        lhs.phraseBytes.withUnsafeBytes { l in
            rhs.phraseBytes.withUnsafeBytes { r in constantTimeEqual(l, r) }
        }
    }

    /// The first byte of SHA-256(entropy), whose top bits are the checksum.
    private static func checksumByte(_ entropy: [UInt8]) -> UInt8 {
        SHA256.hash(data: entropy).withUnsafeBytes { $0[0] }
    }

    /// A word as it may appear in an error message: at most 20 characters, control characters
    /// replaced, so a pasted blob or terminal escape does not end up on the screen verbatim.
    private static func printable(_ word: Substring) -> String {
        var out = ""
        for scalar in word.unicodeScalars.prefix(20) {
            out.unicodeScalars.append(scalar.properties.generalCategory == .control ? "?" : scalar)
        }
        return word.unicodeScalars.count > 20 ? out + "…" : out
    }
}
