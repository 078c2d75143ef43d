/// A request on the control socket.
///
/// On the wire each request is one JSON object with exactly one key, the request's name, whose value
/// is its payload (`null` when it has none): `{"Ping":null}`, `{"Events":{"since":12}}`. A bare string
/// (`"Ping"`) is accepted for requests without a payload, as the reference daemon sends them.
///
/// To add a request (the agent commands, say): add a case, its ``name``, a line in ``init(json:)``
/// and in ``json``.

public import PylonBasics

public enum ControlRequest: Sendable, Equatable {
    /// Liveness: answered with ``ControlResponse/pong`` at once, even while the daemon starts.
    case ping
    /// Answered with ``ControlResponse/status(_:)``.
    case status
    /// Graceful stop; answered with ``ControlResponse/ok`` before the daemon stops.
    case shutdown
    /// Re-read the configuration; ``ControlResponse/ok`` or ``ControlResponse/error(_:)`` with the reason.
    case reload
    /// The scheduler snapshot, answered with ``ControlResponse/state(_:)``.
    case dumpState
    /// Run one job locally, without Nostr; answered with ``ControlResponse/jobResult(_:)``, preceded by
    /// ``ControlResponse/token(_:)`` lines when ``SubmitJob/stream`` is set.
    case submitJob(SubmitJob)
    /// Journal entries with `seq > since`, answered with ``ControlResponse/events(_:)``.
    case events(since: UInt64)
    /// The hosted agents with their processes, answered with ``ControlResponse/agents(_:)``.
    case agents
    /// An agent's row changed in pylon.db (spawned, started, stopped, funded, deleted): the
    /// supervisor brings its process in line; ``ControlResponse/ok``.
    case agentChanged(name: String)

    /// Every request name, for messages.
    public static let names = ["Ping", "Status", "Shutdown", "Reload", "DumpState", "SubmitJob", "Events", "Agents", "AgentChanged"]

    /// The request's name on the wire.
    public var name: String {
        switch self {
        case .ping: "Ping"
        case .status: "Status"
        case .shutdown: "Shutdown"
        case .reload: "Reload"
        case .dumpState: "DumpState"
        case .submitJob: "SubmitJob"
        case .events: "Events"
        case .agents: "Agents"
        case .agentChanged: "AgentChanged"
        }
    }
}

/// The payload of ``ControlRequest/submitJob(_:)``: `{"prompt", "model"?, "backend"?, "max_tokens"?, "stream"?}`.
public struct SubmitJob: Sendable, Equatable {
    public var prompt: String
    /// A model name; `nil` means the configured default.
    public var model: String?
    /// A backend name (`ollama`, `llamacpp`, `openai`, `apple_fm`); `nil` lets the registry choose.
    public var backend: String?
    public var maxTokens: Int?
    /// Send `{"Token": ...}` lines before the result.
    public var stream: Bool

    public init(prompt: String, model: String? = nil, backend: String? = nil, maxTokens: Int? = nil, stream: Bool = false) {
        self.prompt = prompt
        self.model = model
        self.backend = backend
        self.maxTokens = maxTokens
        self.stream = stream
    }
}

extension SubmitJob: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "SubmitJob")
        try reader.rejectUnknown(["prompt", "model", "backend", "max_tokens", "stream"])
        self.prompt = try reader.string("prompt")
        self.model = try reader.optionalString("model")
        self.backend = try reader.optionalString("backend")
        self.maxTokens = try reader.optionalInt("max_tokens", as: Int.self)
        if let maxTokens, maxTokens < 1 {
            throw ControlProtocolError(.invalidMessage, "SubmitJob.max_tokens: expected an integer of at least 1, got \(maxTokens)")
        }
        self.stream = try reader.optionalBool("stream") ?? false
    }

    public var json: JSON {
        var object: JSON = ["prompt": .string(prompt)]
        if let model { object["model"] = .string(model) }
        if let backend { object["backend"] = .string(backend) }
        if let maxTokens { object["max_tokens"] = .integer(Int64(maxTokens)) }
        if stream { object["stream"] = .bool(true) }
        return object
    }
}

extension ControlRequest: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let name: String
        let payload: JSON
        switch json {
        case .string(let bare):
            name = bare
            payload = .null
        case .object(let object):
            guard object.count == 1, let member = object.first else {
                let found = object.isEmpty ? "no key" : "\(object.count) keys (\(object.map(\.key).joined(separator: ", ")))"
                throw ControlProtocolError(
                    .invalidMessage, "invalid request: the object has \(found); a request has exactly one, such as {\"Ping\":null}")
            }
            name = member.key
            payload = member.value
        default:
            throw ControlProtocolError(
                .invalidMessage,
                "invalid request: expected an object with one key, such as {\"Ping\":null}, got \(json.typeDescription)")
        }

        func noPayload(_ request: ControlRequest) throws(ControlProtocolError) -> ControlRequest {
            guard payload.isNull else {
                throw ControlProtocolError(.invalidMessage, "invalid request: \(name) takes no payload (null), got \(payload.typeDescription)")
            }
            return request
        }

        switch name {
        case "Ping": self = try noPayload(.ping)
        case "Status": self = try noPayload(.status)
        case "Shutdown": self = try noPayload(.shutdown)
        case "Reload": self = try noPayload(.reload)
        case "DumpState": self = try noPayload(.dumpState)
        case "SubmitJob":
            if payload.isNull {
                throw ControlProtocolError(.invalidMessage, "invalid request: SubmitJob needs a payload such as {\"prompt\":\"...\"}")
            }
            self = .submitJob(try SubmitJob(json: payload))
        case "Events":
            // `{"Events":null}` and `{"Events":{}}` mean the whole journal.
            if payload.isNull {
                self = .events(since: 0)
            } else {
                let reader = try ObjectReader(payload, path: "Events")
                try reader.rejectUnknown(["since"])
                self = .events(since: try reader.optionalInt("since", as: UInt64.self) ?? 0)
            }
        case "Agents": self = try noPayload(.agents)
        case "AgentChanged":
            let reader = try ObjectReader(payload, path: "AgentChanged")
            try reader.rejectUnknown(["name"])
            self = .agentChanged(name: try reader.string("name"))
        default:
            throw ControlProtocolError(
                .unknownMessage, "unknown request \"\(name)\"; known requests: \(Self.names.joined(separator: ", "))")
        }
    }

    public var json: JSON {
        let payload: JSON
        switch self {
        case .ping, .status, .shutdown, .reload, .dumpState, .agents: payload = .null
        case .agentChanged(let name): payload = ["name": .string(name)]
        case .submitJob(let job): payload = job.json
        case .events(let since): payload = ["since": .integer(Int64(clamping: since))]
        }
        return .object([.init(name, payload)])
    }
}
