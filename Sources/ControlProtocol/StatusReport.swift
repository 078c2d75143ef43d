public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What the daemon serves: provider (sells inference), host (runs agents) or both.
public enum DaemonMode: String, Sendable, Equatable, CaseIterable {
    case provider
    case host
    case both

    public var includesProvider: Bool { self != .host }
    public var includesHost: Bool { self != .provider }
}

/// The daemon's state, as the socket's `Status` answers it and `pylon status --json` prints it
/// (SPEC §12): one type for both, so they cannot drift apart.
///
/// A report with `running == false` is written as `{"running":false}` alone, which is what
/// `status --json` prints when no daemon runs; reading such a report fills the rest with zeros.
public struct StatusReport: Sendable, Equatable {
    public var running: Bool
    public var uptimeSecs: UInt64
    public var pid: Int32
    public var version: String
    public var mode: DaemonMode
    public var providerActive: Bool
    public var hostActive: Bool
    public var jobsCompleted: UInt64
    public var earningsMsats: UInt64
    public var relays: [Relay]
    public var backends: [Backend]
    public var queue: Queue
    public var earnings: Earnings
    /// Hosted agents by state; all zero outside host mode.
    public var agents: AgentCounts

    /// One configured relay and its live connection state.
    public struct Relay: Sendable, Equatable {
        public enum State: String, Sendable, Equatable, CaseIterable {
            case connecting
            case connected
            case backingOff = "backing_off"
            case closed
        }

        public var url: String
        public var state: State
        /// The last connection error, `nil` when there was none.
        public var lastError: String?
        /// When the relay entered `state`.
        public var since: Date?

        public init(url: String, state: State, lastError: String? = nil, since: Date? = nil) {
            self.url = url
            self.state = state
            self.lastError = lastError
            self.since = since
        }
    }

    /// One inference backend and the models it lists.
    public struct Backend: Sendable, Equatable {
        public enum State: String, Sendable, Equatable, CaseIterable {
            case ready
            case unavailable
        }

        public var name: String
        public var url: String
        public var state: State
        public var models: [String]

        public init(name: String, url: String, state: State, models: [String] = []) {
            self.name = name
            self.url = url
            self.state = state
            self.models = models
        }
    }

    /// The scheduler's load.
    public struct Queue: Sendable, Equatable {
        public var queued: Int
        public var running: Int
        public var slots: Int
        public var maxQueue: Int

        public init(queued: Int = 0, running: Int = 0, slots: Int = 0, maxQueue: Int = 0) {
            self.queued = queued
            self.running = running
            self.slots = slots
            self.maxQueue = maxQueue
        }
    }

    /// Earnings over three windows.
    public struct Earnings: Sendable, Equatable {
        public var todayMsats: UInt64
        public var weekMsats: UInt64
        public var totalMsats: UInt64

        public init(todayMsats: UInt64 = 0, weekMsats: UInt64 = 0, totalMsats: UInt64 = 0) {
            self.todayMsats = todayMsats
            self.weekMsats = weekMsats
            self.totalMsats = totalMsats
        }
    }

    public init(
        running: Bool = true, uptimeSecs: UInt64 = 0, pid: Int32 = 0, version: String = "", mode: DaemonMode = .provider,
        providerActive: Bool = false, hostActive: Bool = false, jobsCompleted: UInt64 = 0, earningsMsats: UInt64 = 0,
        relays: [Relay] = [], backends: [Backend] = [], queue: Queue = Queue(), earnings: Earnings = Earnings(),
        agents: AgentCounts = AgentCounts()
    ) {
        self.running = running
        self.uptimeSecs = uptimeSecs
        self.pid = pid
        self.version = version
        self.mode = mode
        self.providerActive = providerActive
        self.hostActive = hostActive
        self.jobsCompleted = jobsCompleted
        self.earningsMsats = earningsMsats
        self.relays = relays
        self.backends = backends
        self.queue = queue
        self.earnings = earnings
        self.agents = agents
    }

    /// The report `status` gives when no daemon answers: `{"running":false}`.
    public static let notRunning = StatusReport(running: false)

    /// The top-level keys of a running report, in the order they are written (SPEC §12).
    public static let fieldNames = [
        "running", "uptime_secs", "pid", "version", "mode", "provider_active", "host_active", "jobs_completed",
        "earnings_msats", "relays", "backends", "queue", "earnings", "agents",
    ]
}

extension StatusReport: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "Status")
        self.running = try reader.bool("running")
        guard running else {
            self = .notRunning
            return
        }
        self.uptimeSecs = try reader.int("uptime_secs")
        self.pid = try reader.int("pid")
        self.version = try reader.string("version")
        let modeText = try reader.string("mode")
        guard let mode = DaemonMode(rawValue: modeText) else {
            throw ControlProtocolError(.invalidMessage, "Status.mode: expected provider, host or both, got \"\(modeText)\"")
        }
        self.mode = mode
        self.providerActive = try reader.bool("provider_active")
        self.hostActive = try reader.bool("host_active")
        self.jobsCompleted = try reader.int("jobs_completed")
        self.earningsMsats = try reader.int("earnings_msats")
        self.relays = try reader.map("relays") { (value, path) throws(ControlProtocolError) in
            let relay = try ObjectReader(value, path: path)
            let stateText = try relay.string("state")
            guard let state = Relay.State(rawValue: stateText) else {
                throw ControlProtocolError(
                    .invalidMessage, "\(path).state: expected connecting, connected, backing_off or closed, got \"\(stateText)\"")
            }
            return Relay(
                url: try relay.string("url"), state: state, lastError: try relay.optionalString("last_error"),
                since: try relay.optionalDate("since"))
        }
        self.backends = try reader.map("backends") { (value, path) throws(ControlProtocolError) in
            let backend = try ObjectReader(value, path: path)
            let stateText = try backend.string("state")
            guard let state = Backend.State(rawValue: stateText) else {
                throw ControlProtocolError(.invalidMessage, "\(path).state: expected ready or unavailable, got \"\(stateText)\"")
            }
            let models = try backend.map("models") { (model, modelPath) throws(ControlProtocolError) in
                guard let name = model.stringValue else {
                    throw ControlProtocolError(.invalidMessage, "\(modelPath): expected a string, got \(model.typeDescription)")
                }
                return name
            }
            return Backend(name: try backend.string("name"), url: try backend.string("url"), state: state, models: models)
        }
        let queue = try reader.object("queue")
        self.queue = Queue(
            queued: try queue.int("queued"), running: try queue.int("running"), slots: try queue.int("slots"),
            maxQueue: try queue.int("max_queue"))
        let earnings = try reader.object("earnings")
        self.earnings = Earnings(
            todayMsats: try earnings.int("today_msats"), weekMsats: try earnings.int("week_msats"),
            totalMsats: try earnings.int("total_msats"))
        self.agents = try reader.object["agents"].map { json throws(ControlProtocolError) in try AgentCounts(json: json, path: "Status.agents") } ?? AgentCounts()
    }

    public var json: JSON {
        guard running else { return ["running": false] }
        let relays: [JSON] = relays.map { relay in
            [
                "url": .string(relay.url), "state": .string(relay.state.rawValue),
                "last_error": relay.lastError.map(JSON.string) ?? .null,
                "since": relay.since.map { .string(RFC3339.string(from: $0)) } ?? .null,
            ]
        }
        let backends: [JSON] = backends.map { backend in
            [
                "name": .string(backend.name), "url": .string(backend.url), "state": .string(backend.state.rawValue),
                "models": .array(backend.models.map(JSON.string)),
            ]
        }
        return [
            "running": true,
            "uptime_secs": .integer(Int64(clamping: uptimeSecs)),
            "pid": .integer(Int64(pid)),
            "version": .string(version),
            "mode": .string(mode.rawValue),
            "provider_active": .bool(providerActive),
            "host_active": .bool(hostActive),
            "jobs_completed": .integer(Int64(clamping: jobsCompleted)),
            "earnings_msats": .integer(Int64(clamping: earningsMsats)),
            "relays": .array(relays),
            "backends": .array(backends),
            "queue": [
                "queued": .integer(Int64(queue.queued)), "running": .integer(Int64(queue.running)),
                "slots": .integer(Int64(queue.slots)), "max_queue": .integer(Int64(queue.maxQueue)),
            ],
            "earnings": [
                "today_msats": .integer(Int64(clamping: earnings.todayMsats)),
                "week_msats": .integer(Int64(clamping: earnings.weekMsats)),
                "total_msats": .integer(Int64(clamping: earnings.totalMsats)),
            ],
            "agents": agents.json,
        ]
    }
}
