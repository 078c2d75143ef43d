/// What a secret key shares with one peer for encryption: the ECDH x coordinate that NIP-04 keys
/// AES with, and the NIP-44 v2 conversation key derived from it.
///
/// Deriving them (a point multiplication, then HKDF) costs more than encrypting a short message,
/// and they never change for the pair: a client that talks to one peer again and again (a wallet
/// client to its wallet service: a request, its answer and a notification for every invoice)
/// keeps them, in a ``SharedKeysCache``, instead of deriving them for every message.
///
/// As secret as the secret key it came from: it prints `<redacted>`.
public struct SharedKeys: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The peer's public key.
    public let peer: PublicKey
    let sharedX: Bytes32
    /// The NIP-44 v2 conversation key.
    public let conversationKey: ConversationKey

    /// Derives the keys `secretKey` shares with `peer`. Throws ``NostrError/Code/invalidKey`` when
    /// the peer's key is not on the curve.
    public init(secretKey: SecretKey, peer: PublicKey) throws(NostrError) {
        let sharedX = try ECDH.sharedX(secretKey: secretKey, publicKey: peer)
        self.peer = peer
        self.sharedX = sharedX
        conversationKey = NIP44.conversationKey(sharedX: sharedX)
    }

    /// Encrypts `plaintext` for the peer with `scheme`.
    public func encrypt(_ plaintext: String, scheme: EncryptionScheme) throws(NostrError) -> String {
        switch scheme {
        case .nip04: try NIP04.encrypt(plaintext, sharedX: sharedX)
        case .nip44: try NIP44.encrypt(plaintext, conversationKey: conversationKey)
        }
    }

    /// Decrypts what the peer encrypted with `scheme` (or what was encrypted for it).
    public func decrypt(_ content: String, scheme: EncryptionScheme) throws(NostrError) -> String {
        switch scheme {
        case .nip04: try NIP04.decrypt(content, sharedX: sharedX)
        case .nip44: try NIP44.decrypt(content, conversationKey: conversationKey)
        }
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "SharedKeys(peer: \(peer.hex), <redacted>)" }
}

/// The ``SharedKeys`` of one secret key with its most recent peers: each derived once while it
/// is kept, at most `capacity` of them, the least recently used one forgotten first.
public struct SharedKeysCache: Sendable {
    private let secretKey: SecretKey
    /// The most peers kept.
    public let capacity: Int
    private var kept: [PublicKey: SharedKeys] = [:]
    /// The peers kept, least recently used first.
    private var recent: [PublicKey] = []
    /// How many times keys were derived (once for each peer not in the cache when asked for).
    public private(set) var derived = 0

    /// `capacity` is at least 1.
    public init(secretKey: SecretKey, capacity: Int) {
        self.secretKey = secretKey
        self.capacity = max(1, capacity)
    }

    /// How many peers are kept.
    public var count: Int { kept.count }

    /// The keys shared with `peer`: kept, or derived now and kept. A peer key that is not on the
    /// curve throws ``NostrError/Code/invalidKey`` and is not kept.
    public mutating func keys(with peer: PublicKey) throws(NostrError) -> SharedKeys {
        if let found = kept[peer] {
            if recent.last != peer, let index = recent.firstIndex(of: peer) {
                recent.remove(at: index)
                recent.append(peer)
            }
            return found
        }
        let keys = try SharedKeys(secretKey: secretKey, peer: peer)
        derived += 1
        kept[peer] = keys
        recent.append(peer)
        if recent.count > capacity { kept[recent.removeFirst()] = nil }
        return keys
    }
}
