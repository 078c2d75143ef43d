public import Foundation

/// The name of a journal entry's kind, such as `job.admitted`. Kinds never change meaning once
/// shipped (SPEC §12); the constants below are the ones SPEC names.
public struct JournalKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let daemonStarted: JournalKind = "daemon.started"
    public static let shutdownBegin: JournalKind = "shutdown.begin"
    public static let shutdownComplete: JournalKind = "shutdown.complete"
    public static let configReloaded: JournalKind = "config.reloaded"
    public static let configReloadFailed: JournalKind = "config.reload_failed"
    public static let relayUp: JournalKind = "relay.up"
    public static let relayDown: JournalKind = "relay.down"
    public static let backendUp: JournalKind = "backend.up"
    public static let backendDown: JournalKind = "backend.down"
    public static let jobReceived: JournalKind = "job.received"
    public static let jobAdmitted: JournalKind = "job.admitted"
    public static let jobRejected: JournalKind = "job.rejected"
    public static let jobStarted: JournalKind = "job.started"
    public static let jobCompleted: JournalKind = "job.completed"
    public static let jobFailed: JournalKind = "job.failed"
    public static let jobCancelled: JournalKind = "job.cancelled"
    public static let invoiceCreated: JournalKind = "invoice.created"
    public static let paymentReceived: JournalKind = "payment.received"
    public static let agentStarted: JournalKind = "agent.started"
    public static let agentStopped: JournalKind = "agent.stopped"
    public static let agentTicked: JournalKind = "agent.ticked"
}

/// One journal entry: `{"seq": N, "time": "RFC 3339", "kind": "job.admitted", "data": {...}}`.
public struct JournalEntry: Sendable, Equatable {
    /// Strictly increasing over the journal.
    public var seq: UInt64
    public var time: Date
    public var kind: JournalKind
    /// The kind's details (`reason` for `job.rejected`, `url` for relay kinds, ...).
    public var data: JSONObject

    public init(seq: UInt64, time: Date, kind: JournalKind, data: JSONObject = [:]) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.data = data
    }
}

extension JournalEntry: JSONRepresentable {
    public init(json: JSONValue) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "JournalEntry")
        self.seq = try reader.int("seq")
        self.time = try reader.date("time")
        self.kind = JournalKind(rawValue: try reader.string("kind"))
        self.data = reader.object["data"].flatMap(\.objectValue) ?? [:]
        if let data = reader.object["data"], !data.isNull, data.objectValue == nil {
            throw ControlProtocolError(.invalidMessage, "JournalEntry.data: expected an object, got \(data.typeDescription)")
        }
    }

    public var json: JSONValue {
        [
            "seq": .int(Int64(clamping: seq)), "time": .string(RFC3339.string(from: time)),
            "kind": .string(kind.rawValue), "data": .object(data),
        ]
    }
}
