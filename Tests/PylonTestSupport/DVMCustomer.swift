import Foundation

/// A NIP-90 customer on rust-nostr's `nostr-sdk` (`Tests/Peers/dvm_customer.py`), driven over
/// JSON lines: it publishes requests and deletions and reports every feedback and result sent to
/// it, decrypted. Tests read what it saw with ``messages(for:)`` and wait with ``awaitMessage``.
public final class DVMCustomer: @unchecked Sendable {
    public let pubkey: String
    private let process: Process
    private let input = Pipe()
    private let lines: OutputLines

    public struct CustomerError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(relays: [String], secret: String? = nil) async throws {
        process = Process()
        process.executableURL = try PythonPeers.python
        process.arguments = [PythonPeers.script("dvm_customer.py").path] + relays.flatMap { ["--relay", $0] } + (secret.map { ["--secret", $0] } ?? [])
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let lines = OutputLines(reading: output.fileHandleForReading)
        self.lines = lines
        guard await awaitCondition(timeout: .seconds(20), { lines.value.contains { $0.contains(#""type": "ready""#) || $0.contains(#""type":"ready""#) } }),
            let ready = Self.parse(lines.value.first { $0.contains("ready") } ?? ""), let key = ready["pubkey"] as? String
        else {
            process.terminate()
            throw CustomerError(description: "dvm_customer.py did not get ready: \(lines.value)")
        }
        pubkey = key
    }

    deinit {
        output(["cmd": "quit"])
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        let deadline = Date().addingTimeInterval(3)
        while ProcessState.isAlive(pid) && Date() < deadline { usleep(10_000) }
        if ProcessState.isAlive(pid) { kill(pid, SIGKILL) }
    }

    private func output(_ command: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: command) else { return }
        try? input.fileHandleForWriting.write(contentsOf: data + Data("\n".utf8))
    }

    static func parse(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// Every line the customer printed, parsed.
    public var all: [[String: Any]] { lines.value.compactMap(Self.parse) }

    /// Publishes a job request and returns its id. `inputs` are `[value, type, relay?, marker?]`.
    @discardableResult
    public func request(
        kind: Int = 5050, inputs: [[String]], params: [[String]] = [], provider: String? = nil, encrypt: String? = nil,
        createdAt: Int64? = nil, expiration: Int64? = nil, relays: [String]? = nil, bid: Int? = nil
    ) async throws -> String {
        let label = UUID().uuidString
        var command: [String: Any] = ["cmd": "request", "kind": kind, "inputs": inputs, "params": params, "label": label]
        if let provider { command["provider"] = provider }
        if let encrypt { command["encrypt"] = encrypt }
        if let createdAt { command["created_at"] = createdAt }
        if let expiration { command["expiration"] = expiration }
        if let relays { command["relays"] = relays }
        if let bid { command["bid"] = bid }
        output(command)
        let sent = await awaitLine(timeout: .seconds(15)) { $0["label"] as? String == label && ($0["type"] as? String == "sent" || $0["type"] as? String == "error") }
        guard let sent, sent["type"] as? String == "sent", let id = sent["id"] as? String else {
            throw CustomerError(description: "the customer could not publish the request: \(String(describing: sent))")
        }
        return id
    }

    /// Publishes a kind 5 deletion of a request.
    public func delete(_ id: String) async throws {
        output(["cmd": "delete", "id": id])
        guard await awaitLine(timeout: .seconds(15), { $0["type"] as? String == "deleted" && $0["id"] as? String == id }) != nil else {
            throw CustomerError(description: "the customer could not publish the deletion of \(id)")
        }
    }

    /// Feedback and results about request `id`, in arrival order.
    public func messages(for id: String) -> [[String: Any]] {
        all.filter { ($0["type"] as? String == "feedback" || $0["type"] as? String == "result") && $0["request"] as? String == id }
    }

    public func results(for id: String) -> [[String: Any]] { messages(for: id).filter { $0["type"] as? String == "result" } }

    public func statuses(for id: String) -> [String] {
        messages(for: id).compactMap { $0["type"] as? String == "feedback" ? $0["status"] as? String : nil }
    }

    /// Waits for a feedback or result about `id` that satisfies `condition`.
    public func awaitMessage(
        for id: String, timeout: Duration = .seconds(20), _ condition: @escaping @Sendable ([String: Any]) -> Bool = { _ in true }
    ) async -> [String: Any]? {
        await awaitLine(timeout: timeout) { line in
            (line["type"] as? String == "feedback" || line["type"] as? String == "result") && line["request"] as? String == id && condition(line)
        }
    }

    /// Waits for the result of `id`.
    public func awaitResult(for id: String, timeout: Duration = .seconds(20)) async -> [String: Any]? {
        await awaitMessage(for: id, timeout: timeout) { $0["type"] as? String == "result" }
    }

    /// Waits for feedback of `status` about `id`.
    public func awaitStatus(_ status: String, for id: String, timeout: Duration = .seconds(20)) async -> [String: Any]? {
        await awaitMessage(for: id, timeout: timeout) { $0["type"] as? String == "feedback" && $0["status"] as? String == status }
    }

    private func awaitLine(timeout: Duration, _ condition: @escaping @Sendable ([String: Any]) -> Bool) async -> [String: Any]? {
        let lines = self.lines
        let found = LockedBox<String?>(nil)
        _ = await awaitCondition(timeout: timeout, interval: .milliseconds(20)) {
            if let line = lines.value.first(where: { Self.parse($0).map(condition) ?? false }) {
                found.withLock { $0 = line }
                return true
            }
            return false
        }
        return found.value.flatMap(Self.parse)
    }
}
