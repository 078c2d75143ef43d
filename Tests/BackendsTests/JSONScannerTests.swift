import Foundation
import NIOCore
import Testing

@testable import Backends

/// The scanner reads what JSONDecoder reads, or nothing (then JSONDecoder decides).
@Suite("JSON scanner on the per-token path")
struct JSONScannerTests {
    /// A small deterministic generator (tests must not depend on luck).
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let pieces: [String] = [
        "a", " the", "\"", "\\", "/", "\n", "\t", "\r", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "é", "ß", "中文",
        "😀", "👩‍👩‍👧", "\u{2028}", "\u{FEFF}", "}", "{", "]", ",", ":", "data: ", "[DONE]", "null", "0", "-1",
    ]

    static func randomText(_ rng: inout SplitMix) -> String {
        let count = Int.random(in: 0...6, using: &rng)
        return (0..<count).map { _ in pieces.randomElement(using: &rng) ?? "" }.joined()
    }

    func decodeOllama(_ text: String) -> OllamaWire.ChatChunk? {
        try? JSONDecoder().decode(OllamaWire.ChatChunk.self, from: Data(text.utf8))
    }

    func decodeOpenAI(_ text: String) -> OpenAIWire.Chunk? {
        try? JSONDecoder().decode(OpenAIWire.Chunk.self, from: Data(text.utf8))
    }

    @Test("Ollama lines: the scanner agrees with JSONDecoder on generated tokens")
    func ollamaEquivalence() throws {
        var rng = SplitMix(state: 42)
        let encoder = JSONEncoder()
        for round in 0..<2000 {
            let token = Self.randomText(&rng)
            let quoted = try #require(String(data: try encoder.encode(token), encoding: .utf8))
            let done = round % 7 == 0
            let line =
                done
                ? #"{"model":"m","created_at":"2024","message":{"role":"assistant","content":\#(quoted)},"done":true,"done_reason":"length","total_duration":123.5e3,"prompt_eval_count":\#(round),"eval_count":-\#(round),"context":[1,2,[3,{"x":null}]]}"#
                : #"{"model":"m","created_at":"2024","message":{"role":"assistant","content":\#(quoted),"images":null},"done":false}"#
            let scanned = OllamaWire.ChatChunk.scan(ByteBuffer(string: line))
            #expect(scanned != nil, "scanner refused \(line)")
            #expect(scanned == decodeOllama(line), "\(line)")
            #expect(scanned?.message?.content == token)
        }
    }

    @Test("OpenAI chunks: the scanner agrees with JSONDecoder on generated tokens")
    func openAIEquivalence() throws {
        var rng = SplitMix(state: 7)
        let encoder = JSONEncoder()
        for round in 0..<2000 {
            let token = Self.randomText(&rng)
            let quoted = try #require(String(data: try encoder.encode(token), encoding: .utf8))
            let line: String
            switch round % 4 {
            case 0:
                line = #"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":\#(quoted)},"logprobs":null,"finish_reason":null}]}"#
            case 1:
                line = #"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":\#(round),"completion_tokens":3,"total_tokens":9,"details":{"cached":0.5}}}"#
            case 2:
                line = #" { "choices" : [ { "message" : { "content" : \#(quoted) } , "finish_reason" : "length" } , { "delta" : null } ] } "#
            default:
                line = #"{"error":{"code":500,"message":\#(quoted),"type":"server_error"}}"#
            }
            let scanned = OpenAIWire.Chunk.scan(ByteBuffer(string: line))
            #expect(scanned != nil, "scanner refused \(line)")
            #expect(scanned == decodeOpenAI(line), "\(line)")
        }
    }

    @Test("escapes: \\u with surrogate pairs, all short escapes")
    func escapes() {
        let line = #"{"message":{"content":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\u0041"},"done":false}"#
        let scanned = OllamaWire.ChatChunk.scan(ByteBuffer(string: line))
        #expect(scanned?.message?.content == "é😀\"\\/\u{08}\u{0C}\n\r\tA")
        #expect(scanned == decodeOllama(line))
    }

    @Test("malformed or unusual input is refused, never misread", arguments: [
        #"{"message":{"content":"a"},"done":false"#,  // unterminated
        #"{"message":{"content":"a"},"done":false}x"#,  // trailing garbage
        #"{"message":{"content":"a\q"},"done":false}"#,  // bad escape
        #"{"message":{"content":"\ud83d"},"done":false}"#,  // lone high surrogate
        #"{"message":{"content":"\ude00x"},"done":false}"#,  // lone low surrogate
        #"{"message":{"content":"a\u12"},"done":false}"#,  // short \u
        "{\"message\":{\"content\":\"a\u{01}\"},\"done\":false}",  // raw control character
        #"{"message":{"content":5},"done":false}"#,  // wrong type
        #"{"message":{"content":"a"},"done":"yes"}"#,  // wrong type
        #"{"message":{"content":"a"},"eval_count":1.5}"#,  // not a plain integer
        #"{"message":{"content":"a"},"eval_count":99999999999999999999}"#,  // overflow
        #"{"message":{"content":"a"},"eval_count":01}"#,  // leading zero
        #"{"mess\u0061ge":{"content":"a"}}"#,  // escaped key
        #"{"message":{"content":"a"},"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,  // too deep
        #"{"message":{"content":"a"},"x":tru}"#,
        #"{"message":{"content":"a"},"x":-}"#,
        #"{"message":{"content":"a"},"x":1.}"#,
        #"{"message":{"content":"a"},}"#,
        #"["message"]"#,
        "",
        "{",
    ])
    func refuses(line: String) {
        #expect(OllamaWire.ChatChunk.scan(ByteBuffer(string: line)) == nil)
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        var buffer = ByteBuffer(string: #"{"message":{"content":""#)
        buffer.writeBytes([0xFF, 0xFE])
        buffer.writeString(#""},"done":false}"#)
        #expect(OllamaWire.ChatChunk.scan(buffer) == nil)
        // one bad byte after ASCII, and valid multi-byte text read back as it is
        var mixed = ByteBuffer(string: #"{"message":{"content":"abc"#)
        mixed.writeBytes([0xC3])
        mixed.writeString(#"d"},"done":false}"#)
        #expect(OllamaWire.ChatChunk.scan(mixed) == nil)
        let line = #"{"message":{"content":"héllo 日本 🙂"},"done":false}"#
        #expect(OllamaWire.ChatChunk.scan(ByteBuffer(string: line))?.message?.content == "héllo 日本 🙂")
    }

    @Test("nesting up to the limit is fine")
    func nesting() {
        let nested = String(repeating: "[", count: 30) + String(repeating: "]", count: 30)
        let line = #"{"message":{"content":"a"},"x":\#(nested)}"#
        #expect(OllamaWire.ChatChunk.scan(ByteBuffer(string: line))?.message?.content == "a")
    }
}
