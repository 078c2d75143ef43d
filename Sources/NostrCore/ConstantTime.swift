/// Compares two buffers in time that depends only on their lengths, for secrets and MACs: an early
/// exit would tell an attacker how many leading bytes of a guess were right.
func constantTimeEqual(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<lhs.count { diff |= lhs[i] ^ rhs[i] }
    return diff == 0
}
