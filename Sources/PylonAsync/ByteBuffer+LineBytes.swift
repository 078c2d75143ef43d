public import NIOCore
public import PylonBasics

/// NIO's buffer as ``LineSplitter`` storage: lines are slices of the chunk, no copy.
extension ByteBuffer: LineBytes {
    public var lineByteCount: Int { readableBytes }

    public func offsetOfNewline() -> Int? {
        readableBytesView.firstIndex(of: UInt8(ascii: "\n")).map { $0 - readerIndex }
    }

    public mutating func takeFirst(_ count: Int) -> ByteBuffer {
        readSlice(length: count) ?? ByteBuffer()
    }

    public mutating func appendLineBytes(_ other: ByteBuffer) {
        var other = other
        writeBuffer(&other)
    }

    public mutating func dropTrailingCarriageReturn() {
        if readableBytesView.last == UInt8(ascii: "\r") { moveWriterIndex(to: writerIndex - 1) }
    }
}
