import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes start with `prefix` (ASCII).
    func hasPrefix(_ prefix: StaticString) -> Bool {
        guard readableBytes >= prefix.utf8CodeUnitCount else { return false }
        return prefix.withUTF8Buffer { expected in
            readableBytesView.prefix(expected.count).elementsEqual(expected)
        }
    }

    /// Whether the readable bytes are only spaces, tabs and line endings.
    var isBlank: Bool {
        readableBytesView.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
    }
}
