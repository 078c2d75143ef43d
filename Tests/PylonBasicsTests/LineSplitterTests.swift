import PylonBasics
import Testing

/// The splitter over the control client's storage; BackendsTests runs the same cases over NIO's
/// `ByteBuffer`.
@Suite("Line splitting over byte arrays")
struct LineSplitterTests {
    func lines(_ chunks: [String], max: Int = 1024) throws(LineTooLong) -> [String] {
        var splitter = LineSplitter<ArraySlice<UInt8>>(maxLineBytes: max)
        var out: [String] = []
        for text in chunks {
            var chunk = ArraySlice(text.utf8)
            while let line = try splitter.nextLine(from: &chunk) {
                out.append(String(decoding: line, as: UTF8.self))
            }
            #expect(chunk.isEmpty)
        }
        if let last = splitter.finish() { out.append(String(decoding: last, as: UTF8.self)) }
        return out
    }

    @Test("lines split across chunks, LF and CRLF, a last line without an ending")
    func splitsLines() throws {
        #expect(try lines(["a\nb", "c\r\nd", "", "e\n\nf"]) == ["a", "bc", "de", "", "f"])
        #expect(try lines(["{\"x\":", "1}", "\n"]) == ["{\"x\":1}"])
        #expect(try lines(["\r\n"]) == [""])
        #expect(try lines(["one\ntwo\nthree\n"]) == ["one", "two", "three"])
        #expect(try lines([]) == [])
    }

    @Test("an over-long line is an error, in one chunk or across chunks")
    func boundsLines() {
        #expect(throws: LineTooLong.self) { try lines([String(repeating: "x", count: 20) + "\n"], max: 10) }
        #expect(throws: LineTooLong.self) { try lines(["xxxxxx", "xxxxxx", "\n"], max: 10) }
        #expect(throws: LineTooLong.self) { try lines(["xxxxxx", "xxxxxx"], max: 10) }
        #expect(throws: Never.self) { try lines(["xxxxx", "xxxxx\n"], max: 10) }
    }
}
