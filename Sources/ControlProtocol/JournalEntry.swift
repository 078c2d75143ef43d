public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One journal entry: `{"seq": N, "time": "RFC 3339", "kind": "job.admitted", "data": {...}}`.
public struct JournalEntry: Sendable, Equatable {
    /// Strictly increasing over the journal.
    public var seq: UInt64
    public var time: Date
    public var kind: JournalKind
    /// The kind's details (`reason` for `job.rejected`, `url` for relay kinds, ...).
    public var data: JSON

    public init(seq: UInt64, time: Date, kind: JournalKind, data: JSON = [:]) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.data = data
    }
}

extension JournalEntry: JSONRepresentable {
    public init(json: JSON) throws(ControlProtocolError) {
        let reader = try ObjectReader(json, path: "JournalEntry")
        self.seq = try reader.int("seq")
        self.time = try reader.date("time")
        self.kind = JournalKind(rawValue: try reader.string("kind"))
        self.data = reader.object["data"].flatMap { $0.objectValue != nil ? $0 : nil } ?? [:]
        if let data = reader.object["data"], !data.isNull, data.objectValue == nil {
            throw ControlProtocolError(.invalidMessage, "JournalEntry.data: expected an object, got \(data.typeDescription)")
        }
    }

    public var json: JSON {
        [
            "seq": .integer(Int64(clamping: seq)), "time": .string(RFC3339.string(from: time)),
            "kind": .string(kind.rawValue), "data": data,
        ]
    }
}
