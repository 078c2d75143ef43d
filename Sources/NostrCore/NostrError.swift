/// NostrCore: the Nostr protocol with no I/O.
///
/// Owns events and their canonical serialization (NIP-01), keys and BIP-340 signatures, relay
/// messages, filters, and the NIPs that are pure data transformations (06, 19, 04, 44, 40, 90 …).
/// It may import only `CSecp256k1`, swift-crypto and `PylonBasics`. Everything that parses untrusted input here
/// returns a typed value or throws ``NostrError``; nothing traps on external data.

public import PylonBasics

/// The one error type of NostrCore: ``NostrErrorCode`` and a message for people.
public typealias NostrError = PylonError<NostrErrorCode>

/// What kind of failure a ``NostrError`` is. Codes never change meaning once shipped.
public enum NostrErrorCode: String, PylonErrorCode {
    /// Text that does not parse: not JSON, not lowercase hex of the expected length, not NIP-19
    /// bech32, not a BIP-39 phrase (an unknown word, a wrong length, a bad checksum).
    case invalidJSON = "invalid_json", invalidHex = "invalid_hex", invalidBech32 = "invalid_bech32", invalidMnemonic = "invalid_mnemonic"
    /// A message or event with a field of the wrong type, size or value; a relay message of an
    /// unknown type; an input beyond a size limit.
    case invalidField = "invalid_field", unknownMessage = "unknown_message", tooLarge = "too_large"
    /// An event id that does not match its content; a signature that does not verify; a secret
    /// key outside [1, n-1] or a public key not on the curve.
    case invalidID = "invalid_id", invalidSignature = "invalid_signature", invalidKey = "invalid_key"
    /// A ciphertext that does not decrypt, a plaintext that cannot be encrypted (NIP-04, NIP-44).
    case decryptionFailed = "decryption_failed", encryptionFailed = "encryption_failed"
    /// A Lightning invoice (BOLT #11) that does not decode or whose signature does not check.
    case invalidInvoice = "invalid_invoice"
}
