import Foundation
import PylonBasics
import Testing

@Suite("JSON parser")
struct JSONTests {
    @Test("parses every value type")
    func values() throws {
        let json = try JSON.parse(#" {"a": [1, -2, 3.5, 1e2, true, false, null, "s\u00e9\ud83c\udf89\n"], "b": {}} "#)
        let a = try #require(json["a"]?.arrayValue)
        #expect(a[0] == .integer(1))
        #expect(a[1] == .integer(-2))
        #expect(a[2] == .double(3.5))
        #expect(a[3] == .double(100))
        #expect(a[4] == .bool(true) && a[5] == .bool(false) && a[6] == .null)
        #expect(a[7] == .string("sé🎉\n"))
        #expect(json["b"] == .object([]))
    }

    @Test(
        "rejects invalid documents",
        arguments: [
            "", " ", "{", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[01]", "[-]", "[1.]", "[1e]", "tru", "nul",
            "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\u{01}b\"",
            "[1] x", "{\"a\":1,\"a\":2}", "1e999", "[\"\\", "{1:2}", "NaN", "[Infinity]",
        ])
    func invalid(text: String) {
        #expect(throws: JSONError.self) { try JSON.parse(text) }
    }

    @Test("rejects invalid UTF-8 inside strings")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x5B, 0x22, 0xFF, 0xFE, 0x22, 0x5D]
        #expect(throws: JSONError.self) { try JSON.parse(bytes: bytes) }
        let overlong: [UInt8] = [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D]
        #expect(throws: JSONError.self) { try JSON.parse(bytes: overlong) }
        // One bad byte among ASCII (the ASCII fast path must not take it)
        let mixed: [UInt8] = [0x5B, 0x22] + Array("abc".utf8) + [0xFF] + Array("def".utf8) + [0x22, 0x5D]
        #expect(throws: JSONError.self) { try JSON.parse(bytes: mixed) }
    }

    @Test("strings read back exactly: ASCII, multi-byte UTF-8, both mixed")
    func stringsExact() throws {
        for text in ["plain ascii 0123", "héllo wörld", "日本語", "a🙂b", ""] {
            let json = "[\"" + text + "\"]"
            #expect(try JSON.parse(json) == .array([.string(text)]))
        }
    }

    @Test("deep nesting is an error, not a stack overflow")
    func depth() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONError.self) { try JSON.parse(deep) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect((try? JSON.parse(ok)) != nil)
    }

    @Test("huge integers become doubles; out-of-range numbers are errors")
    func numbers() throws {
        #expect(try JSON.parse("9223372036854775807") == .integer(.max))
        #expect(try JSON.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSON.parse("-0") == .integer(0))
    }

    @Test("the writer round-trips through Foundation's parser")
    func writer() throws {
        let value = JSON.object([
            .init("s", .string("q\"\\/\n\u{01}é")), .init("n", .integer(-5)), .init("a", .array([.null, .bool(true)])),
        ])
        let text = value.serialized
        #expect(try JSON.parse(text) == value)
        let foundation = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(foundation["s"] as? String == "q\"\\/\n\u{01}é")
    }

    @Test("strings with escapes, surrogate pairs and non-ASCII text round-trip")
    func strings() throws {
        let value = try JSON.parse(#"["\u00e9\ud83d\ude00", "tab\there", "\/slash", "日本"]"#)
        #expect(value == ["é😀", "tab\there", "/slash", "日本"])
        #expect(value.serialized == #"["é😀","tab\there","/slash","日本"]"#)
        #expect(try JSON.parse(value.serialized) == value)
        #expect(throws: JSONError.self) { try JSON.parse(#""\ud83d""#) }
    }

    @Test("numbers: integers stay integers, others are doubles")
    func integersAndDoubles() throws {
        #expect(try JSON.parse("9223372036854775807") == .integer(.max))
        #expect(try JSON.parse("-12") == .integer(-12))
        #expect(try JSON.parse("1.5") == .double(1.5))
        #expect(try JSON.parse("1e3") == .double(1000))
        #expect(try JSON.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(JSON.double(1.5).serialized == "1.5")
        for bad in ["01", "1.", "-", ".5", "1e", "+1", "NaN"] {
            #expect(throws: JSONError.self) { try JSON.parse(bad) }
        }
    }
}
