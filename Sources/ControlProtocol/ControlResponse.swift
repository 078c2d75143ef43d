/// A response on the control socket: one JSON object with one key, like the requests.
///
/// `{"Pong":null}`, `{"Ok":null}`, `{"Error":"message"}`, `{"Status":{...}}`, `{"State":{...}}`,
/// `{"Token":"text"}`, `{"JobResult":{...}}`, `{"Events":[...]}`, `{"Reloaded":{...}}`. Reading also accepts the bare
/// strings `"Pong"` and `"Ok"` that the reference daemon writes.

public import PylonBasics

public enum ControlResponse: Sendable, Equatable {
    case pong
    case ok
    /// A failure, as one sentence for the user.
    case error(String)
    case status(StatusReport)
    /// The scheduler snapshot (`DumpState`); its shape belongs to the scheduler.
    case state(JSON)
    /// One piece of streamed output of a `SubmitJob` with `stream: true`.
    case token(String)
    case jobResult(LocalJobResult)
    case events([JournalEntry])
    /// A successful `Reload`: what changed, what needs a restart, what was ignored.
    case reloaded(ReloadSummary)

    case agents([AgentReport])

    public static let names = ["Pong", "Ok", "Error", "Status", "State", "Token", "JobResult", "Events", "Reloaded", "Agents"]

    public var name: String {
        switch self {
        case .pong: "Pong"
        case .ok: "Ok"
        case .error: "Error"
        case .status: "Status"
        case .state: "State"
        case .token: "Token"
        case .jobResult: "JobResult"
        case .events: "Events"
        case .reloaded: "Reloaded"
        case .agents: "Agents"
        }
    }

    /// Whether this response ends the answer to a request: everything but ``token(_:)``.
    public var isFinal: Bool {
        if case .token = self { return false }
        return true
    }
}

/// The result of a local job (`SubmitJob`).
public struct LocalJobResult: Sendable, Equatable {
    public var id: String
    public var output: String
    public var model: String
    public var backend: String
    /// Output tokens as the backend counted them.
    public var tokens: Int
    public var durationMs: UInt64

    public init(id: String, output: String, model: String, backend: String, tokens: Int, durationMs: UInt64) {
        self.id = id
        self.output = output
        self.model = model
        self.backend = backend
        self.tokens = tokens
        self.durationMs = durationMs
    }
}

extension LocalJobResult: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "JobResult")
        self.id = try reader.string("id")
        self.output = try reader.string("output")
        self.model = try reader.string("model")
        self.backend = try reader.string("backend")
        self.tokens = try reader.int("tokens")
        self.durationMs = try reader.int("duration_ms")
    }

    public var json: JSON {
        [
            "id": .string(id), "output": .string(output), "model": .string(model), "backend": .string(backend),
            "tokens": .integer(Int64(tokens)), "duration_ms": .integer(Int64(clamping: durationMs)),
        ]
    }
}

/// The answer to a successful `Reload` (SPEC §12): `{"changed": [...], "needs_restart": [...],
/// "warnings": [...], "message": "..."}`. Keys are dotted config keys (`provider.price_msats`);
/// `needs_restart` lists the changed keys that apply only after a restart (`http.listen`).
public struct ReloadSummary: Sendable, Equatable {
    public var changed: [String]
    public var needsRestart: [String]
    /// Ignored keys and similar notes, one sentence each.
    public var warnings: [String]
    /// One sentence for the user.
    public var message: String

    public init(changed: [String] = [], needsRestart: [String] = [], warnings: [String] = [], message: String) {
        self.changed = changed
        self.needsRestart = needsRestart
        self.warnings = warnings
        self.message = message
    }
}

extension ReloadSummary: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "Reloaded")
        func strings(_ key: String) throws(ControlProtocolError) -> [String] {
            guard reader.object[key] != nil else { return [] }
            return try reader.map(key) { (value, path) throws(ControlProtocolError) in
                guard let text = value.stringValue else {
                    throw ControlProtocolError(.invalidMessage, "\(path): expected a string, got \(value.typeDescription)")
                }
                return text
            }
        }
        self.changed = try strings("changed")
        self.needsRestart = try strings("needs_restart")
        self.warnings = try strings("warnings")
        self.message = try reader.optionalString("message") ?? ""
    }

    public var json: JSON {
        [
            "changed": .array(changed.map(JSON.string)), "needs_restart": .array(needsRestart.map(JSON.string)),
            "warnings": .array(warnings.map(JSON.string)), "message": .string(message),
        ]
    }
}

extension ControlResponse: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let name: String
        let payload: JSON
        switch json {
        case .string(let bare):
            name = bare
            payload = .null
        case .object(let object):
            guard object.count == 1, let member = object.first else {
                throw ControlProtocolError(.invalidMessage, "invalid response: expected an object with one key, got \(object.count)")
            }
            name = member.key
            payload = member.value
        default:
            throw ControlProtocolError(.invalidMessage, "invalid response: expected an object with one key, got \(json.typeDescription)")
        }
        switch name {
        case "Pong": self = .pong
        case "Ok": self = .ok
        case "Error":
            guard let message = payload.stringValue else {
                throw ControlProtocolError(.invalidMessage, "invalid response: Error carries a string, got \(payload.typeDescription)")
            }
            self = .error(message)
        case "Status": self = .status(try StatusReport(json: payload))
        case "State": self = .state(payload)
        case "Token":
            guard let text = payload.stringValue else {
                throw ControlProtocolError(.invalidMessage, "invalid response: Token carries a string, got \(payload.typeDescription)")
            }
            self = .token(text)
        case "JobResult": self = .jobResult(try LocalJobResult(json: payload))
        case "Events":
            guard let array = payload.arrayValue else {
                throw ControlProtocolError(.invalidMessage, "invalid response: Events carries an array, got \(payload.typeDescription)")
            }
            var entries: [JournalEntry] = []
            entries.reserveCapacity(array.count)
            for element in array { entries.append(try JournalEntry(json: element)) }
            self = .events(entries)
        case "Reloaded": self = .reloaded(try ReloadSummary(json: payload))
        case "Agents":
            guard let array = payload.arrayValue else {
                throw ControlProtocolError(.invalidMessage, "invalid response: Agents carries an array, got \(payload.typeDescription)")
            }
            var agents: [AgentReport] = []
            for element in array { agents.append(try AgentReport(json: element)) }
            self = .agents(agents)
        default:
            throw ControlProtocolError(
                .unknownMessage, "unknown response \"\(name)\"; known responses: \(Self.names.joined(separator: ", "))")
        }
    }

    public var json: JSON {
        let payload: JSON
        switch self {
        case .pong, .ok: payload = .null
        case .error(let message): payload = .string(message)
        case .status(let report): payload = report.json
        case .state(let state): payload = state
        case .token(let text): payload = .string(text)
        case .jobResult(let result): payload = result.json
        case .events(let entries): payload = .array(entries.map(\.json))
        case .reloaded(let summary): payload = summary.json
        case .agents(let agents): payload = .array(agents.map(\.json))
        }
        return .object([.init(name, payload)])
    }
}

