public import Foundation

/// The complete lines a child process writes to a pipe, gathered as they arrive (a read may end in
/// the middle of a line; that part waits for the rest).
public final class OutputLines: Sendable {
    private let lines = LockedBox<[String]>([])
    private let pending = LockedBox(Data())

    public init(reading handle: FileHandle) {
        let lines = self.lines
        let pending = self.pending
        handle.readabilityHandler = { handle in
            let chunk = handle.availableData
            let complete: [String] = pending.withLock { buffer in
                buffer.append(chunk)
                guard let end = buffer.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
                let text = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeSubrange(...end)
                return text.split(separator: "\n").map(String.init)
            }
            lines.withLock { $0 += complete }
        }
    }

    /// The lines so far, in order.
    public var value: [String] { lines.value }
}
