/// NostrCore: the Nostr protocol with no I/O.
///
/// Owns events and their canonical serialization (NIP-01), keys and BIP-340 signatures, relay
/// messages, filters, and the NIPs that are pure data transformations (06, 19, 04, 44, 40, 90 …).
/// It may import only `CSecp256k1` and swift-crypto. Everything that parses untrusted input here
/// returns a typed value or throws ``NostrError``; nothing traps on external data.

/// The one error type of NostrCore: a small stable ``Code`` that tests and metrics match on, and a
/// message for people.
public struct NostrError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Codes never change meaning once shipped.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Text that is not valid JSON, or JSON of the wrong shape.
        public static let invalidJSON = Code("invalid_json")
        /// A message or event with a field of the wrong type, size or value.
        public static let invalidField = Code("invalid_field")
        /// Hex text that is not lowercase hex of the expected length.
        public static let invalidHex = Code("invalid_hex")
        /// An event id that does not match its content.
        public static let invalidID = Code("invalid_id")
        /// A signature that does not verify.
        public static let invalidSignature = Code("invalid_signature")
        /// A secret key outside [1, n-1] or a public key not on the curve.
        public static let invalidKey = Code("invalid_key")
        /// Bech32 / NIP-19 text that does not decode.
        public static let invalidBech32 = Code("invalid_bech32")
        /// A BIP-39 phrase with an unknown word, a wrong length or a bad checksum.
        public static let invalidMnemonic = Code("invalid_mnemonic")
        /// A ciphertext that does not decrypt (NIP-04, NIP-44).
        public static let decryptionFailed = Code("decryption_failed")
        /// A plaintext that cannot be encrypted (empty, too long).
        public static let encryptionFailed = Code("encryption_failed")
        /// A relay message of an unknown type.
        public static let unknownMessage = Code("unknown_message")
        /// An input beyond a size limit.
        public static let tooLarge = Code("too_large")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
