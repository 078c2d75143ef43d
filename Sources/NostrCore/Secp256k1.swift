internal import CSecp256k1
import Synchronization
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
