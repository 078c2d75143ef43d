internal import CSecp256k1
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process-wide libsecp256k1 context.
///
/// A context is safe to share between threads once created and randomized: sign, verify, ECDH and
/// key operations only read it. It is created once, lazily, and never destroyed.
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()

    /// Read-only after `init`; libsecp256k1 documents concurrent use of a const context as safe.
    let pointer: OpaquePointer

    private init() {
        // SECP256K1_CONTEXT_NONE: since 0.2.0 every context can sign and verify.
        guard let ctx = secp256k1_context_create(UInt32(SECP256K1_FLAGS_TYPE_CONTEXT)) else {
            // Only on out-of-memory; nothing useful can continue without the curve.
            preconditionFailure("libsecp256k1: cannot create a context")
        }
        // Blinding against side channels on signing and key generation.
        let seed = SecureRandom.bytes32()
        _ = seed.withUnsafeBytes { secp256k1_context_randomize(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self)) }
        pointer = ctx
    }
}

/// Cryptographically secure random bytes from the operating system's generator
/// through `arc4random_buf` (glibc ≥ 2.36, BSD libc), one call per request (signing asks for 32 bytes every time).
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }

    public static func bytes32() -> Bytes32 {
        var value = Bytes32.zero
        value.withUnsafeMutableBytes { fill($0) }
        return value
    }

    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        // glibc ≥ 2.36 and every BSD libc have arc4random_buf (kernel entropy, no failure path).
        arc4random_buf(base, buffer.count)
    }
}
