public import PylonBasics

extension JSON {
    /// Parses untrusted Nostr text (a relay message, an event, a JSON content) with the errors
    /// NostrCore reports.
    static func parseNostr(_ text: String) throws(NostrError) -> JSON {
        do {
            return try JSON.parse(text)
        } catch {
            throw NostrError(.invalidJSON, error.message, cause: error)
        }
    }

    /// Parses untrusted UTF-8 bytes (validated here).
    static func parseNostr(bytes: some Collection<UInt8>) throws(NostrError) -> JSON {
        do {
            return try JSON.parse(bytes: bytes)
        } catch {
            throw NostrError(.invalidJSON, error.message, cause: error)
        }
    }
}

extension JSONWriter {
    /// Writes 32 bytes (an id, a key) as a hex JSON string without an intermediate `String`.
    @inline(__always)
    public mutating func hexString(_ value: Bytes32) {
        value.withUnsafeBytes { hexString(bytes: $0) }
    }
}
