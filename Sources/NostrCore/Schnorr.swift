internal import CSecp256k1
public import PylonBasics

/// A 64-byte BIP-340 signature.
public struct Signature: Hashable, Sendable, CustomStringConvertible {
    public let r: Bytes32
    public let s: Bytes32

    public init(r: Bytes32, s: Bytes32) {
        self.r = r
        self.s = s
    }

    public init(bytes: some Collection<UInt8>) throws(NostrError) {
        let array = Array(bytes)
        guard array.count == 64, let r = Bytes32(array[0..<32]), let s = Bytes32(array[32..<64]) else {
            throw NostrError(.invalidSignature, "a signature is 64 bytes, got \(array.count)")
        }
        self.init(r: r, s: s)
    }

    /// Parses 128 lowercase hex characters (NIP-01 form).
    public init(hex: some StringProtocol) throws(NostrError) {
        guard Hex.isLowercase(hex, length: 128) else {
            throw NostrError(.invalidHex, "a signature is 128 lowercase hex characters")
        }
        let utf8 = Substring(hex)
        let mid = utf8.index(utf8.startIndex, offsetBy: 64)
        guard let r = Bytes32(hex: utf8[..<mid]), let s = Bytes32(hex: utf8[mid...]) else {
            throw NostrError(.invalidHex, "a signature is 128 lowercase hex characters")
        }
        self.init(r: r, s: s)
    }

    public var bytes: [UInt8] { r.bytes + s.bytes }
    public var hex: String { r.hex + s.hex }
    public var description: String { hex }

    func withUnsafeBytes<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        Swift.withUnsafeBytes(of: (r.storage, s.storage)) { raw in
            body(raw.bindMemory(to: UInt8.self).baseAddress!)
        }
    }
}

/// BIP-340 Schnorr signatures over secp256k1.
public enum Schnorr {
    /// Signs a message of any length (NIP-01 signs the 32-byte event id) with fresh auxiliary
    /// randomness, or with `auxRand` when given (test vectors).
    public static func sign(_ message: some Collection<UInt8>, with keypair: Keypair, auxRand: Bytes32? = nil) -> Signature {
        let msg = Array(message)
        return msg.withUnsafeBufferPointer { sign(UnsafeRawBufferPointer($0), with: keypair, auxRand: auxRand) }
    }

    /// Signs a 32-byte hash (the event id) without copying it.
    public static func sign(_ hash: Bytes32, with keypair: Keypair, auxRand: Bytes32? = nil) -> Signature {
        hash.withUnsafeBytes { sign($0, with: keypair, auxRand: auxRand) }
    }

    static func sign(_ message: UnsafeRawBufferPointer, with keypair: Keypair, auxRand: Bytes32?) -> Signature {
        let aux = auxRand ?? StreamRandom.bytes32()
        var pair = keypair.keypair
        var sig = (Bytes32.zero, Bytes32.zero)
        let ok = withUnsafeMutableBytes(of: &sig) { out in
            aux.withUnsafeBytes { auxRaw in
                var params = secp256k1_schnorrsig_extraparams()
                // SECP256K1_SCHNORRSIG_EXTRAPARAMS_MAGIC (a macro, so not imported).
                params.magic = (0xDA, 0x6F, 0xB3, 0x8C)
                params.noncefp = nil
                params.ndata = UnsafeMutableRawPointer(mutating: auxRaw.baseAddress)
                return secp256k1_schnorrsig_sign_custom(
                    Secp256k1Context.shared.pointer,
                    out.bindMemory(to: UInt8.self).baseAddress!,
                    message.bindMemory(to: UInt8.self).baseAddress,
                    message.count,
                    &pair,
                    &params)
            }
        }
        // Signing with a valid keypair only fails on an internal error.
        precondition(ok == 1, "libsecp256k1: schnorrsig_sign_custom failed")
        return Signature(r: sig.0, s: sig.1)
    }

    /// Verifies a signature over a message of any length.
    public static func verify(_ signature: Signature, message: some Collection<UInt8>, publicKey: PublicKey) -> Bool {
        let msg = Array(message)
        return msg.withUnsafeBufferPointer { verify(signature, message: UnsafeRawBufferPointer($0), publicKey: publicKey) }
    }

    /// Verifies a signature over a 32-byte hash (an event id).
    public static func verify(_ signature: Signature, hash: Bytes32, publicKey: PublicKey) -> Bool {
        hash.withUnsafeBytes { verify(signature, message: $0, publicKey: publicKey) }
    }

    static func verify(_ signature: Signature, message: UnsafeRawBufferPointer, publicKey: PublicKey) -> Bool {
        guard var key = publicKey.parsed() else { return false }
        return signature.withUnsafeBytes { sig in
            secp256k1_schnorrsig_verify(
                Secp256k1Context.shared.pointer, sig,
                message.bindMemory(to: UInt8.self).baseAddress, message.count, &key) == 1
        }
    }
}
