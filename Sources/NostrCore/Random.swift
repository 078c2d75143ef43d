import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

/// Unpredictable bytes for uses that keep no secret of their own: BIP-340's auxiliary randomness
/// (mixed with the key into each signature's nonce) and WebSocket masking keys. They come from the
/// operating system's generator like ``SecureRandom``'s, but 4 KiB at a time: a job's three
/// signatures and three frames then cost one system call in about seventy jobs, not six per job.
/// Keys, phrases and nonces that must stay secret use ``SecureRandom``, never this.
public enum StreamRandom {
    private struct Pool: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096

        mutating func take(_ out: UnsafeMutableRawBufferPointer) {
            var written = 0
            while written < out.count {
                if used == bytes.count {
                    bytes.withUnsafeMutableBytes { SecureRandom.fill($0) }
                    used = 0
                }
                let n = min(out.count - written, bytes.count - used)
                bytes.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: out[written..<(written + n)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[used..<(used + n)]))
                }
                // What was handed out is not kept.
                bytes.withUnsafeMutableBytes { _ = $0[used..<(used + n)].initializeMemory(as: UInt8.self, repeating: 0) }
                used += n
                written += n
            }
        }
    }

    private static let pool = Mutex(Pool())

    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0 else { return }
        pool.withLock { $0.take(buffer) }
    }

    public static func bytes32() -> Bytes32 {
        var value = Bytes32.zero
        value.withUnsafeMutableBytes { fill($0) }
        return value
    }

    /// A `RandomNumberGenerator` over the stream, for APIs that take one.
    public struct Generator: RandomNumberGenerator {
        public init() {}

        public mutating func next() -> UInt64 {
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) { StreamRandom.fill($0) }
            return value
        }
    }
}
