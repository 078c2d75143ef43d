import NIOCore

/// Splits a response body, arriving in chunks, into lines ending in LF or CRLF, as NIO's
/// `NIOSplitLinesMessageDecoder` does for a channel, with a bound on the line length.
///
/// Lines are slices of the chunk (no copy) unless a line spans two chunks; then the part kept from
/// the earlier chunk is copied once into the line.
struct LineSplitter {
    let maxLineBytes: Int
    /// The start of a line whose end has not arrived yet.
    private var pending: ByteBuffer?

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// The next complete line of `chunk` (without its line ending), advancing the chunk's reader
    /// index past it; nil when the chunk holds no further line end, in which case the rest of the
    /// chunk is kept for the next call. Throws when a line exceeds the bound.
    mutating func nextLine(from chunk: inout ByteBuffer) throws(LineTooLong) -> ByteBuffer? {
        guard let newline = chunk.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            let count = chunk.readableBytes
            guard count > 0 else { return nil }
            guard (pending?.readableBytes ?? 0) + count <= maxLineBytes else { throw LineTooLong() }
            if pending == nil {
                pending = chunk.readSlice(length: count)
            } else {
                pending?.writeBuffer(&chunk)
            }
            return nil
        }
        let length = newline - chunk.readerIndex
        guard var line = chunk.readSlice(length: length) else { return nil }
        chunk.moveReaderIndex(forwardBy: 1)
        if var start = pending {
            pending = nil
            guard start.readableBytes + length <= maxLineBytes else { throw LineTooLong() }
            start.writeBuffer(&line)
            line = start
        } else if length > maxLineBytes {
            throw LineTooLong()
        }
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        return line
    }

    /// At the end of the body: the last line if it had no line ending.
    mutating func finish() -> ByteBuffer? {
        defer { pending = nil }
        guard var line = pending, line.readableBytes > 0 else { return nil }
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        return line
    }
}

struct LineTooLong: Error {}

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
