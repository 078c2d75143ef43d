/// Splits bytes arriving in chunks into lines ending in LF or CRLF, with a bound on a line's
/// length so that a peer cannot make pylon buffer without limit. The one line framing of pylon:
/// the backends' NDJSON and SSE bodies, the control socket's server and its client.
///
/// Generic over the storage so that each user keeps its own buffers without copies: NIO's
/// `ByteBuffer` for the backends and the control server, an `ArraySlice<UInt8>` for the control
/// client, which links no NIO. Lines are slices of the chunk unless a line spans two chunks; then
/// the part kept from the earlier chunk is copied once into the line.
public struct LineSplitter<Bytes: LineBytes> {
    public let maxLineBytes: Int
    /// The start of a line whose end has not arrived yet.
    private var pending: Bytes?

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// The next complete line of `chunk` (without its line ending), taking it and its LF off the
    /// chunk; nil when the chunk holds no further line end, in which case the rest of the chunk
    /// is kept for the next call and `chunk` is left empty. Throws when a line exceeds the bound.
    public mutating func nextLine(from chunk: inout Bytes) throws(LineTooLong) -> Bytes? {
        guard let newline = chunk.offsetOfNewline() else {
            let count = chunk.lineByteCount
            guard count > 0 else { return nil }
            guard (pending?.lineByteCount ?? 0) + count <= maxLineBytes else { throw LineTooLong() }
            let rest = chunk.takeFirst(count)
            if pending == nil {
                pending = rest
            } else {
                pending?.appendLineBytes(rest)
            }
            return nil
        }
        var line = chunk.takeFirst(newline)
        _ = chunk.takeFirst(1)
        if var start = pending {
            pending = nil
            guard start.lineByteCount + newline <= maxLineBytes else { throw LineTooLong() }
            start.appendLineBytes(line)
            line = start
        } else if newline > maxLineBytes {
            throw LineTooLong()
        }
        line.dropTrailingCarriageReturn()
        return line
    }

    /// At the end of the input: the last line if it had no line ending.
    public mutating func finish() -> Bytes? {
        defer { pending = nil }
        guard var line = pending, line.lineByteCount > 0 else { return nil }
        line.dropTrailingCarriageReturn()
        return line
    }
}

/// A line longer than ``LineSplitter/maxLineBytes``.
public struct LineTooLong: Error, Sendable {
    public init() {}
}

/// Storage a ``LineSplitter`` cuts lines from: the unread bytes of a buffer.
public protocol LineBytes {
    /// How many unread bytes there are.
    var lineByteCount: Int { get }
    /// The offset of the first LF among the unread bytes.
    func offsetOfNewline() -> Int?
    /// Removes the first `count` unread bytes and returns them.
    mutating func takeFirst(_ count: Int) -> Self
    /// Appends the unread bytes of `other`.
    mutating func appendLineBytes(_ other: Self)
    /// Removes a last `\r`, if there is one.
    mutating func dropTrailingCarriageReturn()
}

extension ArraySlice: LineBytes where Element == UInt8 {
    public var lineByteCount: Int { count }

    public func offsetOfNewline() -> Int? {
        firstIndex(of: UInt8(ascii: "\n")).map { $0 - startIndex }
    }

    public mutating func takeFirst(_ count: Int) -> ArraySlice<UInt8> {
        let taken = self[startIndex..<(startIndex + count)]
        self = self[(startIndex + count)...]
        return taken
    }

    public mutating func appendLineBytes(_ other: ArraySlice<UInt8>) {
        append(contentsOf: other)
    }

    public mutating func dropTrailingCarriageReturn() {
        if last == UInt8(ascii: "\r") { removeLast() }
    }
}
