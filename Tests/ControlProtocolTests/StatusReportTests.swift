import ControlProtocol
import Foundation
import PylonBasics
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
            earnings: .init(todayMsats: 1000, weekMsats: 7000, totalMsats: 50_000), agents: .init([.active: 2, .crashed: 1]))
    }

    @Test("a running report has exactly the SPEC §12 keys at every level")
    func keys() throws {
        let json = try Self.sample().json
        let object = try #require(json.objectValue)
        #expect(object.map(\.key) == StatusReport.fieldNames)
        #expect(
            Set(object.map(\.key))
                == [
                    "running", "uptime_secs", "pid", "version", "mode", "provider_active", "host_active", "jobs_completed",
                    "earnings_msats", "relays", "backends", "queue", "earnings", "agents",
                ])
        #expect(Set(try #require(json["agents"]).keys) == ["active", "low_balance", "dormant", "stopped", "crashed", "spawning"])
        let relay = try #require(json["relays"]?.arrayValue?.first?.objectValue)
        #expect(Set(relay.map(\.key)) == ["url", "state", "last_error", "since"])
        let backend = try #require(json["backends"]?.arrayValue?.first?.objectValue)
        #expect(Set(backend.map(\.key)) == ["name", "url", "state", "models"])
        #expect(Set(try #require(json["queue"]).keys) == ["queued", "running", "slots", "max_queue"])
        #expect(Set(try #require(json["earnings"]).keys) == ["today_msats", "week_msats", "total_msats"])
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
        json["hosted"] = [["name": "a"]]
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
}

@Suite("Hostile JSON")
struct HostileJSONTests {
    @Test("an object with very many keys parses in linear time")
    func manyKeys() throws {
        var text = "{"
        for index in 0..<20_000 { text += "\"k\(index)\":\(index)," }
        text += "\"end\":0}"
        let started = ContinuousClock.now
        let value = try JSON.parse(text)
        #expect(value.objectValue?.count == 20_001)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(throws: ControlProtocolError.self) { try ControlLine.decodeRequest(Array(text.utf8)) }
    }
}

@Suite("Agents on the socket")
struct AgentReportTests {
    static let report = AgentReport(
        name: "scout", npub: "npub1xyz", state: .lowBalance, pid: 4242, goal: "read the news", intervalSecs: 600, budgetMsats: 5000,
        balanceMsats: 120_000, ticks: 3, lastTick: Date(timeIntervalSince1970: 1_764_410_400), restarts: 1)

    @Test("an agent has exactly the SPEC §12 keys; pid and balance are null when unknown; it round-trips through Agents")
    func shape() throws {
        let json = Self.report.json
        #expect(try #require(json.objectValue).map(\.key) == AgentReport.fieldNames)
        #expect(json["state"] == "low_balance" && json["last_tick"] == "2025-11-29T10:00:00.000Z")
        var idle = Self.report
        idle.pid = nil
        idle.balanceMsats = nil
        #expect(idle.json["pid"] == .null && idle.json["balance_msats"] == .null)
        let line = ControlLine.encode(ControlResponse.agents([Self.report, idle]))
        #expect(try ControlLine.decodeResponse(line.dropLast()) == .agents([Self.report, idle]))
    }

    @Test("Agents and AgentChanged requests round-trip; a bad payload or state is an error naming the field")
    func requests() throws {
        for request in [ControlRequest.agents, .agentChanged(name: "scout")] {
            let line = ControlLine.encode(request)
            #expect(try ControlLine.decodeRequest(line.dropLast()) == request)
        }
        #expect(throws: ControlProtocolError.self) { try ControlRequest(json: ["AgentChanged": ["who": "x"]]) }
        var json = Self.report.json
        json["state"] = "sleepy"
        #expect { try AgentReport(json: json) } throws: { ($0 as? ControlProtocolError)?.message.contains("Agent.state") == true }
    }
}
