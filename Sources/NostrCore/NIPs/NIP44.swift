internal import Crypto
internal import CryptoExtras
public import PylonBasics

#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// The long-term symmetric key between two Nostr keys (NIP-44 v2): `HKDF-extract(SHA-256,
/// IKM = shared x, salt = "nip44-v2")`. It is the same from either side, `conv(a, B) == conv(b, A)`.
///
/// It is as secret as the secret key it came from: it prints `<redacted>` and compares in constant
/// time.
public struct ConversationKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    let bytes: Bytes32
    /// HMAC-SHA256 keyed with this key, before any input: every message's HKDF-expand starts from a
    /// copy of it instead of keying HMAC three times (see ``NIP44/messageKeys(conversationKey:nonce:)``).
    let keyedHMAC: HMAC<SHA256>

    init(_ bytes: Bytes32) {
        self.bytes = bytes
        keyedHMAC = bytes.withUnsafeBytes { HMAC<SHA256>(key: SymmetricKey(data: $0)) }
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "ConversationKey(<redacted>)" }

    /// Constant-time comparison.
    public static func == (lhs: ConversationKey, rhs: ConversationKey) -> Bool {
        lhs.bytes.withUnsafeBytes { l in
            rhs.bytes.withUnsafeBytes { r in constantTimeEqual(l, r) }
        }
    }
}

/// NIP-44 version 2: versioned encrypted payloads (secp256k1 ECDH, HKDF, ChaCha20, HMAC-SHA256,
/// padding, base64).
///
/// Besides the original u16 length prefix this implements the 2026 extension (nostr-protocol/nips
/// #1907): plaintexts of 65536 bytes or more carry the prefix `[0, 0] ‖ u32` big-endian. Decryption
/// reads both forms; encryption uses the extension only when the length needs it, so every payload
/// below 64 KiB stays readable by implementations that predate it.
public enum NIP44 {
    /// The version byte this implementation reads and writes.
    public static let version: UInt8 = 2

    /// The longest plaintext ``encrypt(_:conversationKey:nonce:)`` accepts, in UTF-8 bytes.
    ///
    /// NIP-44 allows up to 2^32 − 1 bytes and leaves the practical cap to implementations. 81920 is
    /// the largest padding bucket whose payload (109,324 base64 characters) still fits in a 128 KiB
    /// event, nostr-rs-relay's cap (strfry's is 64 KiB, khatru's 500 KB); a bigger ciphertext would
    /// be refused by most relays anyway. NIP-90 results are kept far smaller than this.
    public static let maxPlaintextLength = 81920

    /// The longest payload ``decrypt(_:conversationKey:)`` looks at, in characters; longer ones are
    /// rejected before base64 decoding, as NIP-44 asks, to bound the work an attacker can cause.
    /// It is about twice the largest relay message cap in use (khatru's 512,000 bytes), so anything a
    /// relay can deliver is read, including long payloads from implementations with a higher cap.
    public static let maxPayloadLength = 1 << 20

    /// The minimum payload: 132 base64 characters, 99 decoded bytes (version, nonce, a 32-byte
    /// padded block with its 2-byte prefix, MAC).
    static let minPayloadLength = 132
    static let minDecodedLength = 99

    /// Prefix threshold of the extended format: lengths at or above it use `[0, 0] ‖ u32`.
    static let extendedPrefixThreshold = 65536

    // MARK: Keys

    /// The conversation key between `secretKey` and `publicKey`. Throws ``NostrError/Code/invalidKey``
    /// when the public key is not on the curve.
    public static func conversationKey(secretKey: SecretKey, publicKey: PublicKey) throws(NostrError) -> ConversationKey {
        conversationKey(sharedX: try ECDH.sharedX(secretKey: secretKey, publicKey: publicKey))
    }

    /// The conversation key from the ECDH x coordinate the two keys share.
    static func conversationKey(sharedX shared: Bytes32) -> ConversationKey {
        let prk = shared.withUnsafeBytes { raw in
            HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: raw), salt: Array("nip44-v2".utf8))
        }
        // HMAC-SHA256 output is always 32 bytes.
        let key = prk.withUnsafeBytes { Bytes32($0) } ?? .zero
        return ConversationKey(key)
    }

    /// The per-message keys: `HKDF-expand(conversation key, info = nonce, 76)`, sliced into the
    /// ChaCha20 key [0, 32), the ChaCha20 nonce [32, 44) and the HMAC key [44, 76).
    struct MessageKeys {
        let chachaKey: [UInt8]
        let chachaNonce: [UInt8]
        let hmacKey: [UInt8]
    }

    ///
    /// HKDF-expand (RFC 5869) written out: `T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i)` for i = 1, 2, 3, each
    /// HMAC copied from the conversation key's keyed one. CryptoKit's `HKDF.expand` keys a new HMAC
    /// for each block, which cost more than the rest of a short message's encryption.
    static func messageKeys(conversationKey: ConversationKey, nonce: Bytes32) -> MessageKeys {
        var okm: [UInt8] = []
        okm.reserveCapacity(96)
        // Each block's input in one buffer: one (generic, slow) HMAC update per block, not three.
        var input: [UInt8] = []
        input.reserveCapacity(65)
        for counter: UInt8 in 1...3 {
            input.removeAll(keepingCapacity: true)
            input += okm.suffix(32)
            input += nonce.bytes
            input.append(counter)
            var mac = conversationKey.keyedHMAC
            mac.update(data: input)
            mac.finalize().withUnsafeBytes { okm += $0 }
        }
        return MessageKeys(
            chachaKey: Array(okm[0..<32]),
            chachaNonce: Array(okm[32..<44]),
            hmacKey: Array(okm[44..<76]))
    }

    // MARK: Padding

    /// The padded size of a plaintext of `length` bytes, without the length prefix (NIP-44
    /// `calc_padded_len`): 32 up to 32 bytes, then chunks of 32 up to 256 bytes, then chunks of
    /// one eighth of the next power of two.
    ///
    /// NIP-44 defines it up to 2^32 − 1; lengths so large that the result would overflow `Int`
    /// (beyond 2^62) return `Int.max`.
    public static func calcPaddedLength(_ length: Int) -> Int {
        if length <= 32 { return 32 }
        let x = length - 1
        let log2 = Int.bitWidth - 1 - x.leadingZeroBitCount
        guard log2 < 62 else { return Int.max }
        let nextPower = 1 << (log2 + 1)
        let chunk = nextPower <= 256 ? 32 : nextPower / 8
        return chunk * (x / chunk + 1)
    }

    /// The length prefix, the plaintext and zeros up to the padded size.
    static func pad(_ plaintext: [UInt8]) -> [UInt8] {
        let length = plaintext.count
        var out = [UInt8]()
        let padded = calcPaddedLength(length)
        out.reserveCapacity(6 + padded)
        if length >= extendedPrefixThreshold {
            out += [0, 0]
            out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: length) >> $0) }
        } else {
            out += [UInt8(length >> 8), UInt8(length & 0xFF)]
        }
        out += plaintext
        out += repeatElement(0, count: padded - length)
        return out
    }

    /// The plaintext bytes inside a padded block, after checking the prefix and the padded size.
    static func unpad(_ padded: [UInt8]) throws(NostrError) -> ArraySlice<UInt8> {
        guard padded.count >= 2 else { throw invalidPadding }
        let short = Int(padded[0]) << 8 | Int(padded[1])
        let length: Int
        let prefix: Int
        if short == 0 {
            // Extended form; a u16 of 0 is otherwise invalid since plaintexts are at least 1 byte.
            guard padded.count >= 6 else { throw invalidPadding }
            length = padded[2..<6].reduce(0) { $0 << 8 | Int($1) }
            prefix = 6
            guard length >= extendedPrefixThreshold else { throw invalidPadding }
        } else {
            length = short
            prefix = 2
        }
        guard prefix + length <= padded.count, padded.count == prefix + calcPaddedLength(length) else {
            throw invalidPadding
        }
        return padded[prefix..<(prefix + length)]
    }

    // MARK: Encrypt and decrypt

    /// Encrypts `plaintext` (1 to ``maxPlaintextLength`` UTF-8 bytes) to a base64 payload.
    ///
    /// - Parameter nonce: 32 bytes that must never repeat under one conversation key; leave nil for
    ///   fresh random bytes. Pass one only to reproduce test vectors.
    public static func encrypt(_ plaintext: String, conversationKey: ConversationKey, nonce: Bytes32? = nil) throws(NostrError) -> String {
        let bytes = Array(plaintext.utf8)
        guard !bytes.isEmpty else {
            throw NostrError(.encryptionFailed, "NIP-44 cannot encrypt an empty message")
        }
        guard bytes.count <= maxPlaintextLength else {
            throw NostrError(
                .encryptionFailed,
                "the message is \(bytes.count) bytes; NIP-44 payloads here hold at most \(maxPlaintextLength) bytes "
                    + "so that relays accept them")
        }
        let nonce = nonce ?? SecureRandom.bytes32()
        let keys = messageKeys(conversationKey: conversationKey, nonce: nonce)
        let ciphertext = try chacha20(pad(bytes), keys: keys, failure: .encryptionFailed)
        let mac = hmac(keys: keys, nonce: nonce, ciphertext: ciphertext[...])
        var payload = [UInt8]()
        payload.reserveCapacity(1 + 32 + ciphertext.count + 32)
        payload.append(version)
        payload += nonce.bytes
        payload += ciphertext
        payload += mac
        return Base64.encode(payload)
    }

    /// Decrypts a base64 payload. Every malformed, truncated, tampered or foreign payload throws
    /// ``NostrError/Code/decryptionFailed``; the MAC is checked, in constant time, before anything
    /// is decrypted.
    public static func decrypt(_ payload: String, conversationKey: ConversationKey) throws(NostrError) -> String {
        let utf8 = payload.utf8
        // "#" flags a future non-base64 encoding: report an unknown version, not bad base64.
        guard let first = utf8.first, first != UInt8(ascii: "#") else {
            throw NostrError(.decryptionFailed, "the NIP-44 payload uses an unsupported encryption version")
        }
        guard utf8.count >= minPayloadLength, utf8.count <= maxPayloadLength else {
            throw NostrError(.decryptionFailed, "the NIP-44 payload has an invalid length (\(utf8.count) characters)")
        }
        guard let data = Base64.decode(payload) else {
            throw NostrError(.decryptionFailed, "the NIP-44 payload is not valid base64")
        }
        guard data.count >= minDecodedLength else {
            throw NostrError(.decryptionFailed, "the NIP-44 payload is too short (\(data.count) bytes)")
        }
        guard data[0] == version else {
            throw NostrError(.decryptionFailed, "the NIP-44 payload has unknown encryption version \(data[0])")
        }
        guard let nonce = Bytes32(data[1..<33]) else { throw invalidPadding }
        let ciphertext = data[33..<(data.count - 32)]
        let mac = data[(data.count - 32)...]
        let keys = messageKeys(conversationKey: conversationKey, nonce: nonce)
        let expected = hmac(keys: keys, nonce: nonce, ciphertext: ciphertext)
        let macMatches = expected.withUnsafeBytes { e in
            mac.withUnsafeBytes { m in constantTimeEqual(e, m) }
        }
        guard macMatches else {
            throw NostrError(.decryptionFailed, "the NIP-44 MAC does not match: wrong key or altered payload")
        }
        let padded = try chacha20(Array(ciphertext), keys: keys, failure: .decryptionFailed)
        let plaintext = try unpad(padded)
        guard let text = String(validating: plaintext, as: UTF8.self) else {
            throw NostrError(.decryptionFailed, "the NIP-44 plaintext is not valid UTF-8")
        }
        return text
    }

    // MARK: Primitives

    private static let invalidPadding = NostrError(.decryptionFailed, "the NIP-44 padding is invalid")

    /// ChaCha20 (RFC 8439, counter 0) under the message keys; encryption and decryption are the same.
    static func chacha20(_ input: [UInt8], keys: MessageKeys, failure: NostrError.Code) throws(NostrError) -> [UInt8] {
        do {
            let nonce = try Insecure.ChaCha20CTR.Nonce(data: keys.chachaNonce)
            let output = try Insecure.ChaCha20CTR.encrypt(input, using: SymmetricKey(data: keys.chachaKey), nonce: nonce)
            return Array(output)
        } catch {
            // Only reachable on an internal BoringSSL failure: key and nonce sizes are fixed above.
            throw NostrError(failure, "ChaCha20 failed inside the crypto library")
        }
    }

    /// `HMAC-SHA256(hmac key, nonce ‖ ciphertext)`: the nonce is authenticated as associated data.
    static func hmac(keys: MessageKeys, nonce: Bytes32, ciphertext: ArraySlice<UInt8>) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: keys.hmacKey))
        nonce.withUnsafeBytes { mac.update(data: $0) }
        ciphertext.withUnsafeBytes { mac.update(data: $0) }
        return Array(mac.finalize())
    }
}
