import ControlProtocol
import Foundation
import Testing

@Suite("StatusReport and JSON")
struct StatusReportTests {
    static func sample() throws -> StatusReport {
        let since = try #require(RFC3339.date(from: "2026-11-29T10:00:00Z"))
        return StatusReport(
            running: true, uptimeSecs: 3600, pid: 4242, version: "0.1.0", mode: .both, providerActive: true, hostActive: true,
            jobsCompleted: 42, earningsMsats: 50_000,
            relays: [
                .init(url: "wss://nos.lol", state: .connected, lastError: nil, since: since),
                .init(url: "wss://relay.damus.io", state: .backingOff, lastError: "connection refused", since: nil),
            ],
            backends: [.init(name: "ollama", url: "http://127.0.0.1:11434", state: .ready, models: ["llama3.2", "qwen3"])],
            queue: .init(queued: 1, running: 2, slots: 2, maxQueue: 64),
            earnings: .init(todayMsats: 1000, weekMsats: 7000, totalMsats: 50_000))
    }

    @Test("a running report has exactly the SPEC §12 keys at every level")
    func keys() throws {
        let json = try Self.sample().json
        let object = try #require(json.objectValue)
        #expect(object.keys == StatusReport.fieldNames)
        #expect(
            Set(object.keys)
                == [
                    "running", "uptime_secs", "pid", "version", "mode", "provider_active", "host_active", "jobs_completed",
                    "earnings_msats", "relays", "backends", "queue", "earnings",
                ])
        let relay = try #require(json["relays"]?.arrayValue?.first?.objectValue)
        #expect(Set(relay.keys) == ["url", "state", "last_error", "since"])
        let backend = try #require(json["backends"]?.arrayValue?.first?.objectValue)
        #expect(Set(backend.keys) == ["name", "url", "state", "models"])
        #expect(Set(try #require(json["queue"]?.objectValue).keys) == ["queued", "running", "slots", "max_queue"])
        #expect(Set(try #require(json["earnings"]?.objectValue).keys) == ["today_msats", "week_msats", "total_msats"])
    }

    @Test("values are written as SPEC says: states, RFC 3339 since, null last_error")
    func values() throws {
        let json = try Self.sample().json
        let relays = try #require(json["relays"]?.arrayValue)
        #expect(relays[0]["state"] == "connected")
        #expect(relays[0]["since"] == "2026-11-29T10:00:00.000Z")
        #expect(relays[0]["last_error"] == .null)
        #expect(relays[1]["state"] == "backing_off")
        #expect(relays[1]["since"] == .null)
        #expect(json["mode"] == "both")
        #expect(json["backends"]?.arrayValue?.first?["state"] == "ready")
    }

    @Test("the report round-trips through the Status response")
    func roundTrip() throws {
        let report = try Self.sample()
        let line = ControlLine.encode(ControlResponse.status(report))
        #expect(try ControlLine.decodeResponse(line.dropLast()) == .status(report))
    }

    @Test("no daemon: {\"running\":false}, and it reads back")
    func notRunning() throws {
        #expect(StatusReport.notRunning.jsonText == #"{"running":false}"#)
        #expect(try StatusReport(jsonText: Array(#"{"running": false}"#.utf8)) == .notRunning)
    }

    @Test("a report from a newer daemon with extra fields still reads")
    func extraFields() throws {
        var json = try Self.sample().json
        if case .object(var object) = json {
            object["agents"] = [["name": "a"]]
            json = .object(object)
        }
        #expect(try StatusReport(json: json) == Self.sample())
    }

    @Test("a wrong state is an error naming the field")
    func wrongState() throws {
        let text = try Self.sample().jsonText.replacingOccurrences(of: "\"connected\"", with: "\"dancing\"")
        #expect {
            try StatusReport(jsonText: Array(text.utf8))
        } throws: { error in
            (error as? ControlProtocolError)?.message.contains("Status.relays[0].state") == true
        }
    }

    // MARK: JSON text

    @Test("strings with escapes, surrogate pairs and non-ASCII text round-trip")
    func strings() throws {
        let value = try JSONValue(parsing: #"["\u00e9\ud83d\ude00", "tab\there", "\/slash", "日本"]"#)
        #expect(value == ["é😀", "tab\there", "/slash", "日本"])
        #expect(value.serialized == #"["é😀","tab\there","/slash","日本"]"#)
        #expect(try JSONValue(parsing: value.serialized) == value)
        #expect(throws: ControlProtocolError.self) { try JSONValue(parsing: #""\ud83d""#) }
    }

    @Test("numbers: integers stay integers, others are doubles")
    func numbers() throws {
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(.max))
        #expect(try JSONValue(parsing: "-12") == .int(-12))
        #expect(try JSONValue(parsing: "1.5") == .double(1.5))
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(try JSONValue(parsing: "9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(JSONValue.double(1.5).serialized == "1.5")
        for bad in ["01", "1.", "-", ".5", "1e", "+1", "NaN"] {
            #expect(throws: ControlProtocolError.self) { try JSONValue(parsing: bad) }
        }
    }

    @Test("pretty output parses back to the same value")
    func pretty() throws {
        let json = try Self.sample().json
        #expect(json.prettySerialized.contains("\n  \"running\": true"))
        #expect(try JSONValue(parsing: json.prettySerialized) == json)
    }

    @Test("RFC 3339: milliseconds in UTC out; offsets and fractions in")
    func rfc3339() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.5)
        let text = RFC3339.string(from: date)
        #expect(text.hasSuffix(".500Z"))
        #expect(RFC3339.date(from: text) == date)
        #expect(RFC3339.date(from: "2026-01-01T01:00:00+01:00") == RFC3339.date(from: "2026-01-01T00:00:00Z"))
        #expect(RFC3339.date(from: "1970-01-01T00:00:00.25Z") == Date(timeIntervalSince1970: 0.25))
        #expect(RFC3339.date(from: "2026-13-01T00:00:00Z") == nil)
        #expect(RFC3339.date(from: "2026-01-01") == nil)
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }
}

@Suite("Hostile JSON")
struct HostileJSONTests {
    @Test("an object with very many keys parses in linear time")
    func manyKeys() throws {
        var text = "{"
        for index in 0..<20_000 { text += "\"k\(index)\":\(index)," }
        text += "\"end\":0}"
        let started = ContinuousClock.now
        let value = try JSONValue(parsing: text)
        #expect(value.objectValue?.count == 20_001)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(throws: ControlProtocolError.self) { try ControlLine.decodeRequest(Array(text.utf8)) }
    }
}
