internal import CSecp256k1
public import PylonBasics

/// A secp256k1 secret key: a scalar in [1, n-1].
///
/// Secret material never prints: `description` and `debugDescription` are `<redacted>`, and
/// equality is constant-time. Use ``hex`` or NIP-19 `nsec` only where the user asked to export it.
public struct SecretKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    let bytes: Bytes32

    /// Validates that the 32 bytes are a scalar in [1, n-1].
    public init(bytes: some Collection<UInt8>) throws(NostrError) {
        guard let value = Bytes32(bytes) else {
            throw NostrError(.invalidKey, "a secret key is 32 bytes, got \(bytes.count)")
        }
        try self.init(value)
    }

    init(_ value: Bytes32) throws(NostrError) {
        let valid = value.withUnsafeBytes { raw in
            secp256k1_ec_seckey_verify(Secp256k1Context.shared.pointer, raw.bindMemory(to: UInt8.self).baseAddress!)
        }
        guard valid == 1 else { throw NostrError(.invalidKey, "the secret key is not a valid secp256k1 scalar") }
        bytes = value
    }

    /// Parses 64 hex characters.
    public init(hex: String) throws(NostrError) {
        guard let value = Bytes32(hex: hex) else {
            throw NostrError(.invalidHex, "a secret key is 64 hex characters")
        }
        try self.init(value)
    }

    /// A fresh random key from the operating system's secure generator.
    public static func generate() -> SecretKey {
        while true {
            if let key = try? SecretKey(SecureRandom.bytes32()) { return key }
        }
    }

    /// The x-only public key (BIP-340).
    public var publicKey: PublicKey { Keypair(self).publicKey }

    /// The 32 bytes; for export, derivation and encryption only.
    public var rawBytes: [UInt8] { bytes.bytes }

    /// 64 lowercase hex characters; for explicit export only.
    public var hex: String { bytes.hex }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "SecretKey(<redacted>)" }

    /// Constant-time comparison.
    public static func == (lhs: SecretKey, rhs: SecretKey) -> Bool {
        lhs.bytes.withUnsafeBytes { l in
            rhs.bytes.withUnsafeBytes { r in
                var diff: UInt8 = 0
                for i in 0..<32 { diff |= l[i] ^ r[i] }
                return diff == 0
            }
        }
    }
}

/// A BIP-340 x-only public key (the `pubkey` of a Nostr event).
///
/// Construction does not check that the point is on the curve (parsing costs a square root);
/// ``isValid`` and signature verification do.
public struct PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes32: Bytes32

    public init(_ bytes32: Bytes32) { self.bytes32 = bytes32 }

    public init(bytes: some Collection<UInt8>) throws(NostrError) {
        guard let value = Bytes32(bytes) else {
            throw NostrError(.invalidKey, "a public key is 32 bytes, got \(bytes.count)")
        }
        bytes32 = value
    }

    /// Parses 64 lowercase hex characters (NIP-01 form).
    public init(hex: some StringProtocol) throws(NostrError) {
        guard Hex.isLowercase(hex, length: 64), let value = Bytes32(hex: hex) else {
            throw NostrError(.invalidHex, "a public key is 64 lowercase hex characters")
        }
        bytes32 = value
    }

    public var hex: String { bytes32.hex }
    public var bytes: [UInt8] { bytes32.bytes }
    public var description: String { hex }

    /// True when the x coordinate is on the curve.
    public var isValid: Bool { parsed() != nil }

    func parsed() -> secp256k1_xonly_pubkey? {
        var key = secp256k1_xonly_pubkey()
        let ok = bytes32.withUnsafeBytes { raw in
            secp256k1_xonly_pubkey_parse(Secp256k1Context.shared.pointer, &key, raw.bindMemory(to: UInt8.self).baseAddress!)
        }
        return ok == 1 ? key : nil
    }

    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.bytes32 < rhs.bytes32 }
}

/// A secret key with its public key, precomputed once for repeated signing.
public struct Keypair: Sendable {
    public let secretKey: SecretKey
    public let publicKey: PublicKey
    let keypair: secp256k1_keypair

    public init(_ secretKey: SecretKey) {
        let ctx = Secp256k1Context.shared.pointer
        var keypair = secp256k1_keypair()
        let created = secretKey.bytes.withUnsafeBytes { raw in
            secp256k1_keypair_create(ctx, &keypair, raw.bindMemory(to: UInt8.self).baseAddress!)
        }
        // SecretKey guarantees a valid scalar, for which keypair_create cannot fail.
        precondition(created == 1, "libsecp256k1 rejected a validated secret key")
        var xonly = secp256k1_xonly_pubkey()
        _ = secp256k1_keypair_xonly_pub(ctx, &xonly, nil, &keypair)
        let pub = Bytes32 { out in
            _ = secp256k1_xonly_pubkey_serialize(ctx, out.bindMemory(to: UInt8.self).baseAddress!, &xonly)
        }
        self.secretKey = secretKey
        self.publicKey = PublicKey(pub)
        self.keypair = keypair
    }

    /// A fresh random keypair.
    public static func generate() -> Keypair { Keypair(.generate()) }
}

extension secp256k1_keypair: @retroactive @unchecked Sendable {}
