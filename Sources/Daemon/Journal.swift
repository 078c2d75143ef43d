import ControlProtocol
import Logging
import NostrCore
import PylonBasics
import PylonStore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension JournalEntry {
    /// A store record as the control protocol's entry (`{"seq","time","kind","data"}`).
    init(_ record: JournalRecord) {
        self.init(seq: UInt64(max(0, record.seq)), time: record.time, kind: record.kind, data: record.data)
    }
}

extension PylonStore {
    /// Appends a daemon-level entry; a failure is logged, never fatal (the state it describes
    /// already happened).
    func record(_ kind: JournalKind, _ members: [String: JSON], logger: Logger) {
        let data = JSON.object(members.sorted { $0.key < $1.key }.map { JSON.Member($0.key, $0.value) })
        do {
            _ = try append(kind: kind, data: data)
        } catch {
            logger.error("cannot write the journal", metadata: ["journal.kind": "\(kind.rawValue)", "error": "\(error)"])
        }
    }
}
