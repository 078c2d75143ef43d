import ControlProtocol
import Foundation
import PylonBasics
import Testing

@Suite("Control messages")
struct ControlMessageTests {
    // MARK: Requests

    @Test(
        "payload-less requests have the seed's exact shape",
        arguments: [
            (ControlRequest.ping, #"{"Ping":null}"#), (.status, #"{"Status":null}"#), (.shutdown, #"{"Shutdown":null}"#),
            (.reload, #"{"Reload":null}"#), (.dumpState, #"{"DumpState":null}"#),
        ])
    func simpleRequests(request: ControlRequest, text: String) throws {
        #expect(request.jsonText == text)
        #expect(try ControlLine.decodeRequest(Array(text.utf8)) == request)
        // The seed's documentation writes a space after the colon; that reads the same.
        let spaced = text.replacingOccurrences(of: ":", with: ": ")
        #expect(try ControlLine.decodeRequest(Array(spaced.utf8)) == request)
    }

    @Test("a bare string is accepted for payload-less requests", arguments: ["Ping", "Status", "Shutdown", "Reload", "DumpState"])
    func bareString(name: String) throws {
        let request = try ControlLine.decodeRequest(Array("\"\(name)\"".utf8))
        #expect(request.name == name)
    }

    @Test("SubmitJob round-trips with every field and with only a prompt")
    func submitJob() throws {
        let full = ControlRequest.submitJob(SubmitJob(prompt: "hi / there", model: "llama3.2", backend: "ollama", maxTokens: 64, stream: true))
        #expect(full.jsonText == #"{"SubmitJob":{"prompt":"hi / there","model":"llama3.2","backend":"ollama","max_tokens":64,"stream":true}}"#)
        #expect(try ControlLine.decodeRequest(Array(full.jsonText.utf8)) == full)

        let minimal = ControlRequest.submitJob(SubmitJob(prompt: "x"))
        #expect(minimal.jsonText == #"{"SubmitJob":{"prompt":"x"}}"#)
        #expect(try ControlLine.decodeRequest(Array(#"{"SubmitJob":{"prompt":"x","model":null,"stream":false}}"#.utf8)) == minimal)
    }

    @Test("Events carries since; a missing payload means the whole journal")
    func events() throws {
        #expect(ControlRequest.events(since: 41).jsonText == #"{"Events":{"since":41}}"#)
        #expect(try ControlLine.decodeRequest(Array(#"{"Events":{"since":41}}"#.utf8)) == .events(since: 41))
        #expect(try ControlLine.decodeRequest(Array(#"{"Events":null}"#.utf8)) == .events(since: 0))
        #expect(try ControlLine.decodeRequest(Array(#"{"Events":{}}"#.utf8)) == .events(since: 0))
    }

    @Test(
        "malformed requests are errors with a clear message",
        arguments: [
            (#"{"Ping":null,"Status":null}"#, "2 keys"),
            (#"{}"#, "no key"),
            (#"{"Launch":null}"#, "unknown request \"Launch\""),
            (#""Launch""#, "unknown request"),
            (#"{"Ping":5}"#, "Ping takes no payload"),
            (#"{"SubmitJob":null}"#, "SubmitJob needs a payload"),
            (#"{"SubmitJob":{"prompt":5}}"#, "SubmitJob.prompt: expected a string, got a number"),
            (#"{"SubmitJob":{}}"#, "SubmitJob: missing \"prompt\""),
            (#"{"SubmitJob":{"prompt":"x","max_tokens":"ten"}}"#, "SubmitJob.max_tokens: expected an integer"),
            (#"{"SubmitJob":{"prompt":"x","max_tokens":0}}"#, "at least 1"),
            (#"{"SubmitJob":{"prompt":"x","max-tokens":3}}"#, "unknown field \"max-tokens\""),
            (#"{"SubmitJob":{"prompt":"x","stream":"yes"}}"#, "SubmitJob.stream: expected a boolean"),
            (#"{"Events":{"since":-1}}"#, "Events.since: expected a non-negative integer"),
            (#"{"Events":{"since":1.5}}"#, "Events.since"),
            (#"{"Events":[1]}"#, "Events: expected an object"),
            (#"[1,2]"#, "expected an object with one key"),
            (#"42"#, "expected an object with one key"),
            (#"null"#, "expected an object with one key"),
            (#"{"Ping":null"#, "not valid JSON"),
            (#"{"Ping":nul}"#, "not valid JSON"),
            (#"{"Ping":null} x"#, "after the JSON value"),
            (#"garbage"#, "not valid JSON"),
            (#""#, "not valid JSON"),
            (#"{"Ping":null,"Ping":null}"#, "duplicate key"),
        ])
    func malformed(text: String, expected: String) {
        #expect {
            try ControlLine.decodeRequest(Array(text.utf8))
        } throws: { error in
            guard let error = error as? ControlProtocolError else { return false }
            return error.message.contains(expected)
        }
    }

    @Test("invalid UTF-8 and deep nesting are errors, not crashes")
    func hostileBytes() {
        #expect(throws: ControlProtocolError.self) { try ControlLine.decodeRequest([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x6E, 0x75, 0x6C, 0x6C, 0x7D]) }
        let deep = Array(repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: ControlProtocolError.self) { try ControlLine.decodeRequest(deep) }
    }

    // MARK: Responses

    @Test("simple responses have the seed's exact shape")
    func simpleResponses() throws {
        let cases: [(ControlResponse, String)] = [
            (.pong, #"{"Pong":null}"#), (.ok, #"{"Ok":null}"#), (.error("no / such"), #"{"Error":"no / such"}"#),
            (.token("he said \"hi\"\n"), #"{"Token":"he said \"hi\"\n"}"#),
            (.state(["queued": 1, "slots": [1, 2]]), #"{"State":{"queued":1,"slots":[1,2]}}"#),
            (.events([]), #"{"Events":[]}"#),
        ]
        for (response, text) in cases {
            #expect(response.jsonText == text)
            #expect(try ControlLine.decodeResponse(Array(text.utf8)) == response)
        }
        // The reference daemon writes bare strings.
        #expect(try ControlLine.decodeResponse(Array(#""Pong""#.utf8)) == .pong)
        #expect(try ControlLine.decodeResponse(Array(#""Ok""#.utf8)) == .ok)
    }

    @Test("JobResult has the SPEC fields")
    func jobResult() throws {
        let result = LocalJobResult(id: "j1", output: "out", model: "m", backend: "ollama", tokens: 3, durationMs: 12)
        let text = ControlResponse.jobResult(result).jsonText
        #expect(text == #"{"JobResult":{"id":"j1","output":"out","model":"m","backend":"ollama","tokens":3,"duration_ms":12}}"#)
        #expect(try ControlLine.decodeResponse(Array(text.utf8)) == .jobResult(result))
    }

    @Test("Events carries journal entries")
    func journalEntries() throws {
        let time = try #require(RFC3339.date(from: "2026-11-29T15:07:00.123Z"))
        let entry = JournalEntry(seq: 7, time: time, kind: .jobRejected, data: ["reason": "busy", "job": ["kind": 5050]])
        let text = ControlResponse.events([entry]).jsonText
        #expect(
            text == #"{"Events":[{"seq":7,"time":"2026-11-29T15:07:00.123Z","kind":"job.rejected","data":{"reason":"busy","job":{"kind":5050}}}]}"#)
        #expect(try ControlLine.decodeResponse(Array(text.utf8)) == .events([entry]))
    }

    @Test("an encoded line is one line ending in a newline, and / is not escaped")
    func oneLine() {
        let line = ControlLine.encode(ControlResponse.token("a/b\nc\td\u{1}"))
        #expect(line.last == 0x0A)
        #expect(line.dropLast().contains(0x0A) == false)
        #expect(String(decoding: line, as: UTF8.self) == "{\"Token\":\"a/b\\nc\\td\\u0001\"}\n")
    }

    @Test("types are Codable through the same JSON shapes")
    func codable() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let result = LocalJobResult(id: "j", output: "o", model: "m", backend: "b", tokens: 1, durationMs: 2)
        let data = try encoder.encode(result)
        #expect(String(decoding: data, as: UTF8.self) == #"{"backend":"b","duration_ms":2,"id":"j","model":"m","output":"o","tokens":1}"#)
        #expect(try JSONDecoder().decode(LocalJobResult.self, from: data) == result)
        let request = try JSONDecoder().decode(ControlRequest.self, from: Data(#"{"Events":{"since":3}}"#.utf8))
        #expect(request == .events(since: 3))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ControlRequest.self, from: Data(#"{"Nope":null}"#.utf8)) }
    }
}

@Suite("Reload answer")
struct ReloadAnswerTests {
    @Test("Reloaded round-trips with its fields")
    func reloaded() throws {
        let summary = ReloadSummary(
            changed: ["relays", "http.listen"], needsRestart: ["http.listen"], warnings: ["config.toml:3: unknown key"],
            message: "applied relays; http.listen changed but needs a restart")
        let text = ControlResponse.reloaded(summary).jsonText
        #expect(
            text
                == #"{"Reloaded":{"changed":["relays","http.listen"],"needs_restart":["http.listen"],"warnings":["config.toml:3: unknown key"],"message":"applied relays; http.listen changed but needs a restart"}}"#
        )
        #expect(try ControlLine.decodeResponse(Array(text.utf8)) == .reloaded(summary))
    }
}
