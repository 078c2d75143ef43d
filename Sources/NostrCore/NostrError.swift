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
    /// Text that is not valid JSON, or JSON of the wrong shape.
    case invalidJSON = "invalid_json"
    /// A message or event with a field of the wrong type, size or value.
    case invalidField = "invalid_field"
    /// Hex text that is not lowercase hex of the expected length.
    case invalidHex = "invalid_hex"
    /// An event id that does not match its content.
    case invalidID = "invalid_id"
    /// A signature that does not verify.
    case invalidSignature = "invalid_signature"
    /// A secret key outside [1, n-1] or a public key not on the curve.
    case invalidKey = "invalid_key"
    /// Bech32 / NIP-19 text that does not decode.
    case invalidBech32 = "invalid_bech32"
    /// A BIP-39 phrase with an unknown word, a wrong length or a bad checksum.
    case invalidMnemonic = "invalid_mnemonic"
    /// A ciphertext that does not decrypt (NIP-04, NIP-44).
    case decryptionFailed = "decryption_failed"
    /// A plaintext that cannot be encrypted (empty, too long).
    case encryptionFailed = "encryption_failed"
    /// A relay message of an unknown type.
    case unknownMessage = "unknown_message"
    /// An input beyond a size limit.
    case tooLarge = "too_large"
}
