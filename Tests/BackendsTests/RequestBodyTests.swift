import Foundation
import NIOCore
import Testing

@testable import Backends

@Suite("Chat request bodies")
struct RequestBodyTests {
    static let awkward = "line one\nsaid \"hi\"\\ tab\t bell\u{07} nul\u{00} é 日本 🎉 </script>"

    func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        return try #require(value as? [String: Any])
    }

    @Test("an OpenAI-compatible body has every set parameter under its wire name and no unset one")
    func openAI() throws {
        let request = InferenceRequest(
            messages: [ChatMessage(role: .system, content: "be brief"), ChatMessage(role: .user, content: Self.awkward)],
            model: "llama3.2",
            sampling: Sampling(maxTokens: 64, temperature: 0.7, topP: 1, topK: 40, frequencyPenalty: -0.5, stop: ["\n\n", "END"])
        )
        let body = try object(OpenAIWire.ChatRequest(request, includeTopK: true).encoded())
        #expect(body["model"] as? String == "llama3.2")
        let messages = try #require(body["messages"] as? [[String: String]])
        #expect(messages == [["role": "system", "content": "be brief"], ["role": "user", "content": Self.awkward]])
        #expect(body["stream"] as? Bool == true)
        #expect((body["stream_options"] as? [String: Bool])?["include_usage"] == true)
        #expect(body["max_tokens"] as? Int == 64)
        #expect(body["temperature"] as? Double == 0.7)
        #expect(body["top_p"] as? Double == 1)
        #expect(body["top_k"] as? Int == 40)
        #expect(body["frequency_penalty"] as? Double == -0.5)
        #expect(body["stop"] as? [String] == ["\n\n", "END"])

        let plain = try object(OpenAIWire.ChatRequest(InferenceRequest(messages: [ChatMessage(role: .user, content: "hi")], model: ""), includeTopK: false).encoded())
        #expect(Set(plain.keys) == ["messages", "stream", "stream_options"])
        let noTopK = try object(OpenAIWire.ChatRequest(request, includeTopK: false).encoded())
        #expect(noTopK["top_k"] == nil)
    }

    @Test("an Ollama body puts the sampling parameters in options, and leaves options out when none is set")
    func ollama() throws {
        let request = InferenceRequest(
            messages: [ChatMessage(role: .user, content: Self.awkward)],
            sampling: Sampling(maxTokens: 8, temperature: 0.25, topK: 5, stop: ["x"])
        )
        let body = try object(OllamaWire.ChatRequest(request, model: "qwen").encoded())
        #expect(body["model"] as? String == "qwen")
        #expect((body["messages"] as? [[String: String]])?.first?["content"] == Self.awkward)
        #expect(body["stream"] as? Bool == true)
        let options = try #require(body["options"] as? [String: Any])
        #expect(options["num_predict"] as? Int == 8)
        #expect(options["temperature"] as? Double == 0.25)
        #expect(options["top_k"] as? Int == 5)
        #expect(options["stop"] as? [String] == ["x"])
        #expect(options["top_p"] == nil)

        let bare = try object(OllamaWire.ChatRequest(InferenceRequest(messages: [ChatMessage(role: .user, content: "hi")]), model: "qwen").encoded())
        #expect(bare["options"] == nil)
    }

    @Test("every control character, quote and backslash is escaped; other text passes through as UTF-8")
    func escaping() throws {
        let all = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self) + "\"\\/ü"
        let buffer = JSONBody.object { $0.member("text", all) }
        let text = String(buffer: buffer)
        #expect(!text.utf8.contains { $0 < 0x20 })
        #expect(text.contains("\\u001f") && text.contains("\\n") && text.contains("\\\"") && text.contains("\\\\"))
        #expect(try object(buffer)["text"] as? String == all)
    }

    @Test("numbers: whole values without a fraction, others exact, non-finite ones left out")
    func numbers() throws {
        let buffer = JSONBody.object { body in
            body.member("whole", 2.0)
            body.member("fraction", 0.1)
            body.member("tiny", 1e-7)
            body.member("nan", Double.nan)
            body.member("infinite", Double.infinity)
            body.member("count", -3)
        }
        #expect(String(buffer: buffer).hasPrefix(#"{"whole":2,"fraction":0.1,"#))
        let body = try object(buffer)
        #expect(body["tiny"] as? Double == 1e-7)
        #expect(body["nan"] == nil && body["infinite"] == nil)
        #expect(body["count"] as? Int == -3)
    }
}
