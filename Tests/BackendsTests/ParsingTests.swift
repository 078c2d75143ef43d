import NIOCore
import PylonAsync
import PylonBasics
import Testing

@testable import Backends

@Suite("Line splitting, URLs, finish reasons")
struct ParsingTests {
    func lines(_ chunks: [String], max: Int = 1024) throws -> [String] {
        var splitter = LineSplitter<ByteBuffer>(maxLineBytes: max)
        var out: [String] = []
        for text in chunks {
            var chunk = ByteBuffer(string: text)
            while let line = try splitter.nextLine(from: &chunk) {
                out.append(String(buffer: line))
            }
        }
        if let last = splitter.finish() { out.append(String(buffer: last)) }
        return out
    }

    @Test("lines split across chunks, LF and CRLF, a last line without an ending")
    func splitsLines() throws {
        #expect(try lines(["a\nb", "c\r\nd", "", "e\n\nf"]) == ["a", "bc", "de", "", "f"])
        #expect(try lines(["{\"x\":", "1}", "\n"]) == ["{\"x\":1}"])
        #expect(try lines(["\r\n"]) == [""])
        #expect(try lines([]) == [])
    }

    @Test("an over-long line is an error, in one chunk or across chunks")
    func boundsLines() {
        #expect(throws: LineTooLong.self) { try lines([String(repeating: "x", count: 20) + "\n"], max: 10) }
        #expect(throws: LineTooLong.self) { try lines(["xxxxxx", "xxxxxx", "\n"], max: 10) }
        #expect(throws: LineTooLong.self) { try lines(["xxxxxx", "xxxxxx"], max: 10) }
        #expect(throws: Never.self) { try lines(["xxxxx", "xxxxx\n"], max: 10) }
    }

    @Test("base URLs with or without /v1 and slashes", arguments: [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080"),
        (" https://api.example.com/openai/v1 ", "https://api.example.com/openai"),
        ("HTTP://host", "HTTP://host"),
    ])
    func roots(raw: String, root: String) {
        #expect(ServerURL.root(raw, stripV1: true) == root)
    }

    @Test("bad URLs are rejected", arguments: ["", "127.0.0.1:8080", "ftp://host", "http://", "http://user:pw@host", "http://a b"])
    func badRoots(raw: String) {
        #expect(ServerURL.root(raw, stripV1: true) == nil)
    }

    @Test("Ollama's base URL keeps a /v1 path")
    func ollamaKeepsPath() {
        #expect(ServerURL.root("http://h:11434/v1", stripV1: false) == "http://h:11434/v1")
    }

    @Test("finish reasons from servers")
    func finishReasons() {
        #expect(FinishReason(serverValue: "stop") == .stop)
        #expect(FinishReason(serverValue: nil) == .stop)
        #expect(FinishReason(serverValue: "length") == .length)
        #expect(FinishReason(serverValue: "content_filter") == .other)
        #expect(FinishReason(serverValue: "unload") == .other)
    }

    @Test("server error bodies: Ollama's string and OpenAI's object, sanitized")
    func serverErrors() {
        #expect(ServerErrorBody.message(in: ByteBuffer(string: #"{"error":"model \"x\" not found"}"#)) == #"model "x" not found"#)
        #expect(ServerErrorBody.message(in: ByteBuffer(string: #"{"error":{"message":"nope","code":404}}"#)) == "nope")
        #expect(ServerErrorBody.message(in: ByteBuffer(string: "<html>")) == nil)
        #expect(ServerErrorBody.message(in: ByteBuffer(string: #"{"error":"a\u0000b\nc"}"#)) == "a b c")
        let long = ServerErrorBody.sanitize(String(repeating: "y", count: 1000))
        #expect(long?.count == 201)
    }

    @Test("model names match exactly or with Ollama's :latest")
    func modelNames() {
        #expect(ModelName.matches(requested: "llama3.2", listed: "llama3.2:latest"))
        #expect(ModelName.matches(requested: "llama3.2:latest", listed: "llama3.2:latest"))
        #expect(!ModelName.matches(requested: "llama3", listed: "llama3.2:latest"))
        #expect(!ModelName.matches(requested: "llama3.2", listed: "llama3.2:1b"))
    }

    @Test("an API key never prints")
    func redactedKey() {
        let key = APIKey("sk-very-secret")
        #expect("\(key)" == "<redacted>")
        #expect(String(reflecting: key) == "<redacted>")
    }
}
