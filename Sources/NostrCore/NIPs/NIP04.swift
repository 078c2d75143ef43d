internal import Crypto
internal import CryptoExtras
public import PylonBasics

#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// NIP-04 encrypted content (deprecated, still used by NIP-90 encrypted job requests and older
/// NIP-47 wallets): `base64(AES-256-CBC(key = shared x, iv, PKCS7(plaintext))) + "?iv=" + base64(iv)`.
///
/// The key is the unhashed ECDH x coordinate, and nothing authenticates the ciphertext besides the
/// event signature, so callers must verify the event before decrypting. Every failure after AES
/// (bad padding, invalid UTF-8) reports the same message, so the error says nothing that would
/// help a padding-oracle attack.
public enum NIP04 {
    /// The longest content ``decrypt(_:secretKey:publicKey:)`` looks at, in characters; like
    /// ``NIP44/maxPayloadLength``, twice the largest relay message cap in use.
    public static let maxContentLength = 1 << 20

    private static let separator: [UInt8] = Array("?iv=".utf8)

    /// Encrypts `plaintext` for `publicKey`.
    ///
    /// - Parameter iv: 16 bytes; leave nil for fresh random bytes. Pass one only for tests.
    public static func encrypt(
        _ plaintext: String, secretKey: SecretKey, publicKey: PublicKey, iv: [UInt8]? = nil
    ) throws(NostrError) -> String {
        try encrypt(plaintext, sharedX: try ECDH.sharedX(secretKey: secretKey, publicKey: publicKey), iv: iv)
    }

    /// Encrypts `plaintext` under the ECDH x coordinate shared with the peer (see ``SharedKeys``).
    static func encrypt(_ plaintext: String, sharedX shared: Bytes32, iv: [UInt8]? = nil) throws(NostrError) -> String {
        let iv = iv ?? SecureRandom.bytes(16)
        guard iv.count == 16 else {
            throw NostrError(.encryptionFailed, "a NIP-04 IV is 16 bytes, got \(iv.count)")
        }
        let ciphertext: [UInt8]
        do {
            let key = shared.withUnsafeBytes { SymmetricKey(data: $0) }
            ciphertext = Array(try AES._CBC.encrypt(Array(plaintext.utf8), using: key, iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            // Key and IV sizes are fixed above, so only an internal BoringSSL failure lands here.
            throw NostrError(.encryptionFailed, "AES-CBC failed inside the crypto library")
        }
        return Base64.encode(ciphertext) + "?iv=" + Base64.encode(iv)
    }

    /// Decrypts NIP-04 content sent between `secretKey` and `publicKey` (either direction). Content
    /// that is malformed or does not decrypt to UTF-8 under this key throws
    /// ``NostrError/Code/decryptionFailed``; an invalid public key throws
    /// ``NostrError/Code/invalidKey``.
    public static func decrypt(_ content: String, secretKey: SecretKey, publicKey: PublicKey) throws(NostrError) -> String {
        try decrypt(content) { () throws(NostrError) in try ECDH.sharedX(secretKey: secretKey, publicKey: publicKey) }
    }

    /// Decrypts under the ECDH x coordinate shared with the peer (see ``SharedKeys``).
    static func decrypt(_ content: String, sharedX shared: Bytes32) throws(NostrError) -> String {
        try decrypt(content) { () throws(NostrError) in shared }
    }

    /// `sharedX` is asked for only once the content is well-formed: a malformed message costs no ECDH.
    private static func decrypt(_ content: String, sharedX: () throws(NostrError) -> Bytes32) throws(NostrError) -> String {
        let bytes = Array(content.utf8)
        guard bytes.count <= maxContentLength else {
            throw NostrError(.decryptionFailed, "the NIP-04 content is too long (\(bytes.count) characters)")
        }
        guard let cut = firstIndex(of: separator, in: bytes) else {
            throw NostrError(.decryptionFailed, "the NIP-04 content has no \"?iv=\" part")
        }
        guard let ciphertext = Base64.decode(String(decoding: bytes[..<cut], as: UTF8.self)),
              let iv = Base64.decode(String(decoding: bytes[(cut + separator.count)...], as: UTF8.self))
        else {
            throw NostrError(.decryptionFailed, "the NIP-04 content is not valid base64")
        }
        guard iv.count == 16 else {
            throw NostrError(.decryptionFailed, "the NIP-04 IV is \(iv.count) bytes, not 16")
        }
        guard !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
            throw NostrError(.decryptionFailed, "the NIP-04 ciphertext is not a whole number of AES blocks")
        }
        let shared = try sharedX()
        let undecryptable = NostrError(.decryptionFailed, "the NIP-04 content does not decrypt with this key")
        let plaintext: [UInt8]
        do {
            let key = shared.withUnsafeBytes { SymmetricKey(data: $0) }
            plaintext = Array(try AES._CBC.decrypt(ciphertext, using: key, iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw undecryptable
        }
        guard let text = String(validating: plaintext, as: UTF8.self) else { throw undecryptable }
        return text
    }

    /// The first index where `needle` starts in `haystack`.
    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
