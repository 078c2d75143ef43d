// NIP-90 vocabulary shared by the provider and the buyer: feedback statuses and how encrypted
// requests and answers are encrypted.

/// The statuses of kind 7000 feedback (NIP-90).
public enum FeedbackStatus: String, Sendable, Hashable {
    case paymentRequired = "payment-required"
    case processing
    case partial
    case error
    case success
}

/// How an encrypted request was encrypted; the answer uses the same scheme.
public enum EncryptionScheme: String, Sendable, Hashable {
    case nip04
    case nip44

    /// By shape: NIP-04 content carries `?iv=`; anything else is taken for NIP-44 v2.
    public static func detect(_ content: String) -> EncryptionScheme {
        content.contains("?iv=") ? .nip04 : .nip44
    }

    public func decrypt(_ content: String, secretKey: SecretKey, peer: PublicKey) throws(NostrError) -> String {
        switch self {
        case .nip04:
            return try NIP04.decrypt(content, secretKey: secretKey, publicKey: peer)
        case .nip44:
            let key = try NIP44.conversationKey(secretKey: secretKey, publicKey: peer)
            return try NIP44.decrypt(content, conversationKey: key)
        }
    }

    public func encrypt(_ plaintext: String, secretKey: SecretKey, peer: PublicKey) throws(NostrError) -> String {
        switch self {
        case .nip04:
            return try NIP04.encrypt(plaintext, secretKey: secretKey, publicKey: peer)
        case .nip44:
            let key = try NIP44.conversationKey(secretKey: secretKey, publicKey: peer)
            return try NIP44.encrypt(plaintext, conversationKey: key)
        }
    }
}
