internal import CSecp256k1
internal import Crypto
public import PylonBasics

/// A BIP-32 extended private key: a secret key, its chain code and its place in the tree.
///
/// Only private derivation is implemented, which is all NIP-06 needs. The scalar addition of
/// child derivation is libsecp256k1's `secp256k1_ec_seckey_tweak_add`; nothing here does curve
/// arithmetic itself. Like ``SecretKey`` it prints `<redacted>`.
public struct ExtendedPrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The key at this node.
    public let secretKey: SecretKey
    let chainCode: Bytes32
    /// 0 for the master key, one more per level.
    let depth: UInt8
    /// The first 4 bytes of HASH160 of the parent's compressed public key; 0 for the master key.
    let parentFingerprint: [UInt8]
    /// The index this key was derived with, with bit 31 set when hardened; 0 for the master key.
    let childNumber: UInt32

    /// Index bit that marks hardened derivation.
    static let hardenedBit: UInt32 = 0x8000_0000

    /// The master key of a seed: `HMAC-SHA512(key = "Bitcoin seed", seed)`. A seed is 16 to 64 bytes
    /// (BIP-39 seeds are 64).
    public static func master(seed: [UInt8]) throws(NostrError) -> ExtendedPrivateKey {
        guard (16...64).contains(seed.count) else {
            throw NostrError(.invalidKey, "a BIP-32 seed is 16 to 64 bytes, got \(seed.count)")
        }
        let i = Array(HMAC<SHA512>.authenticationCode(for: seed, using: SymmetricKey(data: Array("Bitcoin seed".utf8))))
        let key: SecretKey
        do {
            key = try SecretKey(bytes: i[0..<32])
        } catch {
            // Probability below 2^-127; BIP-32 says such a seed is unusable.
            throw NostrError(.invalidKey, "this seed gives an invalid BIP-32 master key; use another seed")
        }
        return ExtendedPrivateKey(
            secretKey: key, chainCode: Bytes32(i[32..<64]) ?? .zero,
            depth: 0, parentFingerprint: [0, 0, 0, 0], childNumber: 0)
    }

    /// The child at `index` (below 2^31), hardened or not.
    public func child(_ index: UInt32, hardened: Bool) throws(NostrError) -> ExtendedPrivateKey {
        guard index < Self.hardenedBit else {
            throw NostrError(
                .invalidField,
                "a BIP-32 child index is below 2^31 (pass hardened: true for a hardened child), got \(index)")
        }
        guard depth < UInt8.max else {
            throw NostrError(.invalidField, "a BIP-32 path is at most 255 levels deep")
        }
        let number = hardened ? index | Self.hardenedBit : index
        let parentPublicKey = compressedPublicKey()
        var data: [UInt8]
        if hardened {
            data = [0] + secretKey.rawBytes
        } else {
            data = parentPublicKey
        }
        data += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: number >> $0) }
        let i = Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: chainCode.bytes)))

        // child = parse256(IL) + k mod n; libsecp256k1 refuses IL >= n and a zero result, the two
        // cases for which BIP-32 says to move on to the next index.
        var childKey = secretKey.bytes
        let tweaked = childKey.withUnsafeMutableBytes { key in
            i.withUnsafeBufferPointer { tweak in
                secp256k1_ec_seckey_tweak_add(
                    Secp256k1Context.shared.pointer,
                    key.bindMemory(to: UInt8.self).baseAddress!,
                    tweak.baseAddress!)
            }
        }
        guard tweaked == 1, let key = try? SecretKey(childKey) else {
            throw NostrError(
                .invalidKey,
                "BIP-32 derivation at index \(index) gives an invalid key (probability below 2^-127); use the next index")
        }
        let fingerprint = Array(RIPEMD160.hash(Array(SHA256.hash(data: parentPublicKey))).prefix(4))
        return ExtendedPrivateKey(
            secretKey: key, chainCode: Bytes32(i[32..<64]) ?? .zero,
            depth: depth + 1, parentFingerprint: fingerprint, childNumber: number)
    }

    /// Derives along a path such as `m/44'/1237'/0'/0/0`, applied below this key (`m` names this
    /// key). A hardened step is marked with `'`, `h` or `H`. A malformed path throws
    /// ``NostrError/Code/invalidField``.
    public func derive(path: String) throws(NostrError) -> ExtendedPrivateKey {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.first == "m" else {
            throw NostrError(.invalidField, "a BIP-32 path starts with \"m\", as in m/44'/1237'/0'/0/0")
        }
        var key = self
        for part in parts.dropFirst() {
            let (index, hardened) = try Self.parseStep(part)
            key = try key.child(index, hardened: hardened)
        }
        return key
    }

    /// One path step: decimal digits below 2^31, optionally followed by `'`, `h` or `H`.
    private static func parseStep(_ step: Substring) throws(NostrError) -> (UInt32, Bool) {
        var digits = step
        var hardened = false
        if let last = digits.last, last == "'" || last == "h" || last == "H" {
            hardened = true
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isWholeNumber }),
              let value = UInt64(digits), value < UInt64(hardenedBit)
        else {
            throw NostrError(
                .invalidField,
                "\"\(step.prefix(16))\" is not a BIP-32 path step; use a number below 2^31, with ' for hardened")
        }
        return (UInt32(value), hardened)
    }

    /// The BIP-32 serialization (`xprv…`, Base58Check of 78 bytes: version, depth, parent
    /// fingerprint, child number, chain code, 0x00 and the key). As secret as the key itself.
    public var xprv: String {
        var data: [UInt8] = [0x04, 0x88, 0xAD, 0xE4]  // mainnet private
        data.append(depth)
        data += parentFingerprint
        data += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: childNumber >> $0) }
        data += chainCode.bytes
        data.append(0)
        data += secretKey.rawBytes
        return Base58.checkEncode(data)
    }

    /// The 33-byte SEC1 compressed public key of this node.
    func compressedPublicKey() -> [UInt8] {
        let ctx = Secp256k1Context.shared.pointer
        var point = secp256k1_pubkey()
        let created = secretKey.bytes.withUnsafeBytes { raw in
            secp256k1_ec_pubkey_create(ctx, &point, raw.bindMemory(to: UInt8.self).baseAddress!)
        }
        // SecretKey guarantees a valid scalar, for which pubkey_create cannot fail.
        precondition(created == 1, "libsecp256k1 rejected a validated secret key")
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        _ = out.withUnsafeMutableBufferPointer { buffer in
            secp256k1_ec_pubkey_serialize(ctx, buffer.baseAddress!, &length, &point, UInt32(SECP256K1_EC_COMPRESSED))
        }
        return out
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "ExtendedPrivateKey(<redacted>)" }
}
