import Foundation

/// A NIP-47 wallet service (`Tests/Peers/nwc_wallet.py`, on rust-nostr's `nostr-sdk` and the
/// `bolt11` package) with one in-memory ledger for several wallets, each with its own connection
/// URI. Its invoices are real signed `lnbcrt` invoices; a payment between two of its wallets moves
/// the balance and sends the NIP-47 notifications. Tests steer it over JSON lines (``command(_:)``):
/// balances, failures, delays, silence, settling an invoice from outside.
public final class TestWalletService: @unchecked Sendable {
    /// Connection URI of each wallet, by name (`provider`, `buyer` by default).
    public let uris: [String: String]
    public let clientPubkeys: [String: String]
    private let process: Process
    private let input = Pipe()
    private let lines: OutputLines
    private let commandLock = NSLock()

    public struct ServiceError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters:
    ///   - wallets: `name=msats` starting balances.
    ///   - encryption: `both` (NIP-44 v2 and NIP-04), `nip44`, or `nip04` (an info event without
    ///     the encryption tag, as older services publish).
    public init(relays: [String], wallets: [String] = ["provider=0", "buyer=1000000000"], encryption: String = "both", notifications: Bool = true) async throws {
        process = Process()
        process.executableURL = try PythonPeers.python
        var arguments = [PythonPeers.script("nwc_wallet.py").path] + relays.flatMap { ["--relay", $0] }
        arguments += wallets.flatMap { ["--wallet", $0] } + ["--encryption", encryption]
        if !notifications { arguments.append("--no-notifications") }
        process.arguments = arguments
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let lines = OutputLines(reading: output.fileHandleForReading)
        self.lines = lines
        guard await awaitCondition(timeout: .seconds(30), { !lines.value.isEmpty }),
            let first = Self.parse(lines.value[0]), let wallets = first["wallets"] as? [String: [String: Any]]
        else {
            process.terminate()
            throw ServiceError(description: "nwc_wallet.py did not start: \(lines.value)")
        }
        uris = wallets.compactMapValues { $0["uri"] as? String }
        clientPubkeys = wallets.compactMapValues { $0["client_pubkey"] as? String }
    }

    deinit {
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        let deadline = Date().addingTimeInterval(3)
        while ProcessState.isAlive(pid) && Date() < deadline { usleep(10_000) }
        if ProcessState.isAlive(pid) { kill(pid, SIGKILL) }
    }

    static func parse(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// Sends one control command and returns its answer (`{"ok": true, ...}`); throws when the
    /// service refuses it or does not answer within 10 s.
    @discardableResult
    public func command(_ command: [String: Any]) throws -> [String: Any] {
        commandLock.lock()
        defer { commandLock.unlock() }
        let before = lines.value.count
        let data = try JSONSerialization.data(withJSONObject: command)
        try input.fileHandleForWriting.write(contentsOf: data + Data("\n".utf8))
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let current = lines.value
            if current.count > before, let answer = current[before...].lazy.compactMap(Self.parse).first(where: { $0["ok"] != nil }) {
                guard answer["ok"] as? Bool == true else {
                    throw ServiceError(description: "the wallet service refused \(command): \(answer["error"] ?? "")")
                }
                return answer
            }
            usleep(5_000)
        }
        throw ServiceError(description: "the wallet service did not answer \(command)")
    }

    /// A wallet's balance in millisatoshis.
    public func balance(_ wallet: String) throws -> Int64 {
        let answer = try command(["cmd": "balance", "wallet": wallet])
        return (answer["balance"] as? NSNumber)?.int64Value ?? -1
    }

    /// How many requests the service received, by method and by encryption scheme.
    public func requests() throws -> [String: Any] {
        try command(["cmd": "requests"])
    }
}
