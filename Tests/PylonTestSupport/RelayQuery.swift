public import Foundation

/// Stored events on a relay, fetched by rust-nostr's client (`Tests/Peers/query_relay.py`).
public enum RelayQuery {
    public static func events(_ url: String, filter: [String: any Sendable], timeout: Double = 3) async throws -> [[String: Any]] {
        let filterText = String(decoding: try JSONSerialization.data(withJSONObject: filter), as: UTF8.self)
        let output = try PythonPeers.run(script: "query_relay.py", arguments: [url, filterText, String(timeout)], input: Data())
        return (try JSONSerialization.jsonObject(with: output) as? [[String: Any]]) ?? []
    }
}

/// Changes a pylon.db behind the daemon's back (with Python's sqlite3), to stage what a crash at
/// an exact moment would leave.
public enum SQLite {
    public static func execute(_ database: URL, _ sql: String) throws {
        let script = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit(); c.close()"
        let process = Process()
        process.executableURL = try PythonPeers.python
        process.arguments = ["-c", script, database.path, sql]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PythonPeers.OracleError(message: "sqlite3 failed on: \(sql)") }
    }
}

extension RelayQuery {
    /// Publishes a kind 1 note with `content` from a fresh key (mentioning `mention`, a hex public
    /// key, with a p tag) and returns its id.
    public static func publishNote(_ url: String, content: String, mention: String? = nil) throws -> String {
        let output = try PythonPeers.run(script: "query_relay.py", arguments: [url, "--note", content] + (mention.map { [$0] } ?? []), input: Data())
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
