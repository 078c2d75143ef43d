internal import CSecp256k1
import PylonBasics

/// Elliptic-curve Diffie-Hellman on secp256k1 as NIP-04 and NIP-44 use it: the shared secret is the
/// raw 32-byte x coordinate of `a·B`, not libsecp256k1's default SHA-256 of the compressed point.
enum ECDH {
    /// The unhashed x coordinate of `secretKey · publicKey`.
    ///
    /// The x-only public key is lifted to the point with even y (BIP-340 `lift_x`); the x of `a·B`
    /// is the same for either y, so the choice does not change the result. A public key whose x is
    /// not on the curve throws ``NostrError/Code/invalidKey``.
    static func sharedX(secretKey: SecretKey, publicKey: PublicKey) throws(NostrError) -> Bytes32 {
        let ctx = Secp256k1Context.shared.pointer
        var point = secp256k1_pubkey()
        var compressed = [UInt8](repeating: 0x02, count: 33)
        publicKey.bytes32.withUnsafeBytes { raw in
            for i in 0..<32 { compressed[i + 1] = raw[i] }
        }
        let parsed = compressed.withUnsafeBufferPointer { buffer in
            secp256k1_ec_pubkey_parse(ctx, &point, buffer.baseAddress!, 33)
        }
        guard parsed == 1 else {
            throw NostrError(.invalidKey, "the public key is not a point on secp256k1")
        }
        var ok: Int32 = 0
        let shared = Bytes32 { out in
            secretKey.bytes.withUnsafeBytes { seckey in
                ok = secp256k1_ecdh(
                    ctx,
                    out.bindMemory(to: UInt8.self).baseAddress!,
                    &point,
                    seckey.bindMemory(to: UInt8.self).baseAddress!,
                    { output, x32, _, _ in
                        // The hash function NIP-04 and NIP-44 need: copy x unchanged.
                        guard let output, let x32 else { return 0 }
                        output.update(from: x32, count: 32)
                        return 1
                    },
                    nil)
            }
        }
        // Only fails for a scalar outside [1, n-1], which SecretKey rules out.
        guard ok == 1 else {
            throw NostrError(.invalidKey, "ECDH failed: the secret key is not a valid secp256k1 scalar")
        }
        return shared
    }
}
