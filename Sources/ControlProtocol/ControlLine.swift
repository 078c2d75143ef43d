public import PylonBasics

/// Helpers for the line framing: one JSON value per line, `\n`-terminated.
public enum ControlLine {
    /// The largest request line a server accepts by default (1 MiB).
    public static let defaultMaximumRequestLength = 1 << 20
    /// The largest response line a client accepts by default (64 MiB: `Events` may be long).
    public static let defaultMaximumResponseLength = 64 << 20

    /// The line for `message`, with its `\n`.
    public static func encode(_ message: some JSONRepresentable) -> [UInt8] {
        var text = message.json.serialized
        text.append("\n")
        return Array(text.utf8)
    }

    /// Reads a request from one line (without or with its `\n`, a trailing `\r` is ignored).
    public static func decodeRequest(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlRequest {
        try ControlRequest(json: JSON.parse(controlLine: line))
    }

    /// Reads a response from one line.
    public static func decodeResponse(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlResponse {
        try ControlResponse(json: JSON.parse(controlLine: line))
    }
}
