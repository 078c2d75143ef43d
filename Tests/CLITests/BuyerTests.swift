import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// The buyer side (`pylon job`) against pylon's own provider through a real relay: two homes.
@Suite("buyer: pylon job against a pylon provider", .serialized)
struct BuyerTests {
    /// A second home whose config points at the rig's relay.
    func buyerHome(_ rig: ProviderRig) throws -> PylonNode {
        try PylonNode(relays: [rig.relay.url], extraConfig: "[http]\nlisten = \"\"\n")
    }

    @Test("submit --wait prints the result; --json gives the id, the feedback timeline and the result; job list/status/result read the history")
    func plain() async throws {
        let rig = try await ProviderRig.start()
        let buyer = try buyerHome(rig)
        let prompt = "name three rivers"
        let waited = try buyer.pylon("job", "submit", prompt, "--wait", "--param", "max_tokens=4")
        #expect(waited.status == 0, "\(waited)")
        #expect(waited.stdout == MockLLMServer.expectedText(prompt: prompt, count: 4) + "\n")
        #expect(waited.stderr.contains("processing"), "progress goes to stderr")

        let report = try #require(try buyer.pylon("job", "submit", "encrypted please", "--provider", rig.provider, "--encrypt", "--wait", "--json").json() as? [String: Any])
        #expect(report["status"] as? String == "completed")
        #expect(report["encrypted"] as? Bool == true)
        #expect(report["result"] as? String == MockLLMServer.expectedText(prompt: "encrypted please", count: 8))
        #expect(report["answered_by"] as? String == rig.provider)
        let timeline = (report["feedback"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        #expect(timeline.first == "processing")
        let id = try #require(report["id"] as? String)

        let list = try #require(try buyer.pylon("job", "list", "--json").json() as? [[String: Any]])
        #expect(list.count == 2)
        #expect(list.allSatisfy { $0["status"] as? String == "completed" })
        let status = try #require(try buyer.pylon("job", "status", id, "--json").json() as? [String: Any])
        #expect(status["result"] as? String == report["result"] as? String)
        #expect(try buyer.pylon("job", "result", id).stdout == (report["result"] as? String ?? "") + "\n")
        // The provider's side saw the same job.
        let served = try #require(try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])
        #expect(served.contains { $0["id"] as? String == id && $0["status"] as? String == "completed" })
    }

    @Test("without --wait it prints the id; job result later finds the answer on the relays")
    func resultFromRelays() async throws {
        let rig = try await ProviderRig.start()
        let buyer = try buyerHome(rig)
        let submitted = try buyer.pylon("job", "submit", "answer me later", "--provider", rig.provider)
        #expect(submitted.status == 0, "\(submitted)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((try? EventID(hex: id)) != nil)
        #expect(await rig.node.awaitStatus { ($0["jobs_completed"] as? Int) == 1 })
        let result = try buyer.pylon("job", "result", id)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == MockLLMServer.expectedText(prompt: "answer me later", count: 8) + "\n")
        let status = try #require(try buyer.pylon("job", "status", id, "--json").json() as? [String: Any])
        #expect(status["status"] as? String == "completed", "the relays' answer went into the history")
    }

    @Test("a provider's error exits non-zero with its reason; a request nobody answers times out")
    func errorAndTimeout() async throws {
        let rig = try await ProviderRig.start()
        let buyer = try buyerHome(rig)
        let failed = try buyer.pylon("job", "submit", "hi", "--provider", rig.provider, "--model", "no-such-model", "--wait", "--timeout", "20")
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("no-such-model"), "\(failed)")

        let elsewhere = String(repeating: "cd", count: 32)
        let started = ContinuousClock.now
        let timedOut = try buyer.pylon("job", "submit", "anyone?", "--provider", elsewhere, "--wait", "--timeout", "2", "--json")
        #expect(timedOut.status == 5)
        #expect(ContinuousClock.now - started < .seconds(15))
        let report = try #require(try timedOut.json() as? [String: Any])
        #expect(report["status"] as? String == "timeout")
        #expect(timedOut.stderr.contains("timed out"))
        #expect(rig.customer.messages(for: report["id"] as? String ?? "").isEmpty)
    }

    @Test("bad arguments are clear errors: --encrypt without --provider, a bad npub, a bad param, no relay")
    func badArguments() throws {
        let node = try PylonNode(relays: ["ws://127.0.0.1:9"])
        #expect(try node.pylon("job", "submit", "x", "--encrypt").stderr.contains("--provider"))
        let badKey = try node.pylon("job", "submit", "x", "--provider", "npub1nope")
        #expect(badKey.status != 0 && badKey.stderr.contains("npub"))
        #expect(try node.pylon("job", "submit", "x", "--param", "novalue").stderr.contains("key=value"))
        let unreachable = try node.pylon("job", "submit", "x")
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach any relay"))
        #expect(try node.pylon("job", "status", "zz").stderr.contains("64 hex"))
    }

    @Test("job providers lists the NIP-89 announcement with its models and a fresh heartbeat")
    func providers() async throws {
        let rig = try await ProviderRig.start(provider: "name = \"market stall\"\n")
        let buyer = try buyerHome(rig)
        let listed = LockedBox<[[String: String]]>([])
        #expect(await awaitCondition(timeout: .seconds(15), interval: .milliseconds(300)) {
            guard let listings = try? buyer.pylon("job", "providers", "--json").json() as? [[String: Any]] else { return false }
            listed.set(listings.map { listing in
                [
                    "pubkey": listing["pubkey"] as? String ?? "", "name": listing["name"] as? String ?? "",
                    "models": (listing["models"] as? [String] ?? []).joined(separator: ","),
                    "beat": (listing["heartbeat_age_secs"] as? Int).map(String.init) ?? "",
                ]
            })
            return !listings.isEmpty
        })
        let listing = try #require(listed.value.first)
        #expect(listing["pubkey"] == rig.provider)
        #expect(listing["name"] == "market stall")
        #expect(listing["models"] == "mock-model")
        #expect(Int(listing["beat"] ?? "") ?? 999 < 60)
        #expect(try buyer.pylon("job", "providers", "--kind", "5002").stdout.contains("no provider"))
    }

    @Test("payment-required is shown with its amount and exits 4 (no wallet yet)")
    func paymentRequired() async throws {
        let relay = try await RelayProcess.start(.nostrRelay)
        defer { relay.stop() }
        let peer = try PeerProcess(script: "payment_provider.py", arguments: ["--relay", relay.url, "--amount", "21000"])
        let pubkey = try #require((try JSONSerialization.jsonObject(with: Data(peer.firstLine.utf8)) as? [String: Any])?["pubkey"] as? String)
        let buyer = try PylonNode(relays: [relay.url], extraConfig: "[http]\nlisten = \"\"\n")
        let result = try buyer.pylon("job", "submit", "pay me", "--provider", pubkey, "--wait", "--timeout", "20")
        #expect(result.status == 4, "\(result)")
        #expect(result.stderr.contains("21000"))
        let list = try #require(try buyer.pylon("job", "list", "--json").json() as? [[String: Any]])
        #expect(list.first?["status"] as? String == "payment_required")
        let feedback = try #require((list.first?["feedback"] as? [[String: Any]])?.first)
        #expect(feedback["amount_msats"] as? Int == 21000)
        #expect(feedback["bolt11"] as? String == "lnbc210n1pfakeinvoice")
    }
}
