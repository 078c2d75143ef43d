import Foundation
import NostrCore
import PylonTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Host mode end to end (SPEC §9): two homes, one provider serving the mock LLM and one host with
/// agents, on a real relay; a `nostr-sdk` client that mentions an agent and reads its notes. The
/// agents are real subprocesses of the real binary.
@Suite("host mode: agents as supervised subprocesses", .serialized)
struct HostTests {
    struct HostRig {
        let rig: ProviderRig
        let host: PylonNode
    }

    func start(relay: RelayProcess.Implementation = .nostrRelay) async throws -> HostRig {
        let rig = try await ProviderRig.start(relay: relay)
        let host = try PylonNode(relays: [rig.relay.url])
        return HostRig(rig: rig, host: host)
    }

    func spawn(_ node: PylonNode, _ name: String, _ extra: String...) throws -> (npub: String, hex: String) {
        let run = try node.pylon(["agent", "spawn", name, "--json"] + extra)
        #expect(run.status == 0, "\(run)")
        let report = try #require(try run.json() as? [String: Any])
        let npub = try #require(report["npub"] as? String)
        #expect(!run.stdout.contains("phrase") && report["mnemonic"] == nil, "no phrase in --json")
        return (npub, try NIP19.publicKey(from: npub).hex)
    }

    func agents(_ node: PylonNode) throws -> [String: [String: Any]] {
        let list = try node.pylon("agent", "list", "--json").json() as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: list.compactMap { item in (item["name"] as? String).map { ($0, item) } })
    }

    func pid(_ node: PylonNode, _ name: String) throws -> Int32? {
        (try agents(node)[name]?["pid"] as? Int).map(Int32.init)
    }

    func journal(_ node: PylonNode, _ kind: String) throws -> [[String: Any]] {
        let all = try node.pylon("events", "--json").json() as? [[String: Any]] ?? []
        return all.filter { $0["kind"] as? String == kind }.compactMap { $0["data"] as? [String: Any] }
    }

    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        // A zombie (exited, not yet reaped) is gone for our purposes.
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? false)
    }

    @Test(
        "an agent ticks: it buys an answer from a free provider, replies to a mention, and the client sees its note; list, info and metrics tell",
        arguments: RelayProcess.Implementation.real)
    func tick(relay: RelayProcess.Implementation) async throws {
        let rigs = try await start(relay: relay)
        let host = rigs.host
        let alpha = try spawn(host, "alpha", "--goal", "greet people on nostr", "--interval", "3600")
        _ = try spawn(host, "beta", "--interval", "3600")
        let mention = try RelayQuery.publishNote(rigs.rig.relay.url, content: "hello alpha, how are you?", mention: alpha.hex)
        try host.mustStart("--mode", "host")
        #expect(await host.awaitStatus { status in
            (status["host_active"] as? Bool) == true && ((status["agents"] as? [String: Any])?["active"] as? Int) == 2
        })
        var notes: [[String: Any]] = []
        _ = await awaitCondition(timeout: .seconds(40), interval: .milliseconds(500)) {
            notes = (try? await RelayQuery.events(rigs.rig.relay.url, filter: ["kinds": [1], "authors": [alpha.hex]])) ?? []
            return !notes.isEmpty
        }
        let alphaLog = (try? host.pylon("agent", "logs", "alpha").stdout) ?? ""
        let note = try #require(notes.first, "alpha published no note: \(alphaLog)")
        let tags = note["tags"] as? [[String]] ?? []
        #expect(tags.contains { $0.count > 1 && $0[0] == "e" && $0[1] == mention }, "a reply to the mention: \(tags)")
        #expect(!(note["content"] as? String ?? "").isEmpty)
        #expect(rigs.rig.mock.calls(.openAIChat) >= 1, "the provider ran the agent's request")

        let ticked = try journal(host, "agent.ticked").first { $0["name"] as? String == "alpha" && $0["outcome"] as? String == "ok" }
        #expect(ticked?["provider"] as? String == rigs.rig.provider)
        #expect(ticked?["note_id"] as? String == note["id"] as? String)
        #expect(ticked?["cost_msats"] as? Int == 0)
        let list = try agents(host)
        #expect(list["alpha"]?["state"] as? String == "active" && (list["alpha"]?["ticks"] as? Int ?? 0) >= 1)
        #expect(list["alpha"]?["pid"] is Int && list["beta"]?["pid"] is Int)
        #expect(list["alpha"]?["last_tick"] is String)
        let info = try #require(try host.pylon("agent", "info", "alpha", "--json").json() as? [String: Any])
        #expect(Set(info.keys) == ["name", "npub", "state", "pid", "goal", "interval_secs", "budget_msats", "balance_msats", "ticks", "last_tick", "restarts"])
        #expect(try journal(host, "agent.started").filter { $0["pid"] is Int }.count == 2)

        // The first scrape counts every tick journaled since the daemon started (more may land meanwhile).
        let journaledTicks = try journal(host, "agent.ticked").count
        let metrics = try host.http("/metrics").body
        #expect(metrics.contains(#"pylon_agents{state="active"} 2"#), "\(metrics.split(separator: "\n").filter { $0.contains("agent") })")
        let counted = metrics.split(separator: "\n").first { $0.hasPrefix("pylon_agent_ticks_total ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(journaledTicks >= 1 && (counted ?? 0) >= Double(journaledTicks), "\(journaledTicks) ticks journaled, /metrics says \(counted ?? -1)")
        let text = try host.pylon("status").stdout
        #expect(text.contains("agents: 2 active"), "\(text)")
        let ready = try host.http("/readyz")
        #expect(ready.status == 200, "\(ready)")
        let logs = try host.pylon("agent", "logs", "alpha")
        #expect(logs.status == 0 && logs.stdout.contains("agent ticked"), "\(logs)")
        try await host.mustCleanShutdown()
    }

    @Test("kill -9 of an agent: restarted after the backoff and journaled; a crash loop backs off and shows; stop ends it for good")
    func crashes() async throws {
        let rigs = try await start()
        let host = rigs.host
        _ = try spawn(host, "gamma", "--interval", "3600")
        try host.mustStart("--mode", "host")
        var first: Int32?
        _ = await awaitCondition(timeout: .seconds(15)) {
            first = try? pid(host, "gamma")
            return first != nil
        }
        let pid1 = try #require(first)
        kill(pid1, SIGKILL)
        var second: Int32?
        _ = await awaitCondition(timeout: .seconds(15)) {
            second = try? pid(host, "gamma")
            return second != nil && second != pid1
        }
        #expect(second != nil && second != pid1, "restarted")
        let crashed = try journal(host, "agent.crashed")
        #expect(crashed.first?["signal"] as? Int == 9 && crashed.first?["restarts"] as? Int == 1, "\(crashed)")
        #expect(try agents(host)["gamma"]?["restarts"] as? Int == 1)

        // Its identity gone, each start ends at once: a crash loop, further and further apart.
        try FileManager.default.removeItem(at: host.home.file("agents/gamma/identity.mnemonic"))
        if let second { kill(second, SIGKILL) }
        var sawCrashed = false
        _ = await awaitCondition(timeout: .seconds(20), interval: .milliseconds(200)) {
            if (try? agents(host)["gamma"]?["state"] as? String) == "crashed" { sawCrashed = true }
            return ((try? journal(host, "agent.crashed")) ?? []).count >= 4
        }
        let loop = try journal(host, "agent.crashed")
        #expect(loop.count >= 4, "\(loop)")
        let waits = loop.compactMap { $0["restart_in_secs"] as? Int }
        #expect(Array(waits.prefix(4)) == [1, 2, 4, 8], "backoff doubles: \(waits)")
        #expect(sawCrashed, "status shows the crash loop")
        let status = try host.status()
        #expect(((status["agents"] as? [String: Any])?["crashed"] as? Int ?? 0) + ((status["agents"] as? [String: Any])?["active"] as? Int ?? 0) == 1)

        #expect(try host.pylon("agent", "stop", "gamma").status == 0)
        #expect(await awaitCondition(timeout: .seconds(10)) { (try? pid(host, "gamma")) == nil && (try? agents(host)["gamma"]?["state"] as? String) == "stopped" })
        let after = try journal(host, "agent.crashed").count
        try await Task.sleep(for: .seconds(3))  // longer than the next backoff would be: nothing restarts
        #expect(try journal(host, "agent.crashed").count == after)
        #expect(try pid(host, "gamma") == nil)
        try await host.mustCleanShutdown()
    }

    @Test("pylon stop: every agent process is gone before the daemon exits; after kill -9 of the daemon, none is left after the next start")
    func stopping() async throws {
        let rigs = try await start()
        let host = rigs.host
        _ = try spawn(host, "one", "--interval", "3600")
        _ = try spawn(host, "two", "--interval", "3600")
        try host.mustStart("--mode", "both")
        var pids: [Int32] = []
        _ = await awaitCondition(timeout: .seconds(15)) {
            pids = ((try? agents(host)) ?? [:]).values.compactMap { ($0["pid"] as? Int).map(Int32.init) }
            return pids.count == 2
        }
        #expect(pids.count == 2)
        let stopped = try host.pylon("stop")
        #expect(stopped.status == 0, "\(stopped)")
        #expect(pids.allSatisfy { !Self.alive($0) }, "no agent outlives the daemon")

        try host.mustStart("--mode", "host")
        var again: [Int32] = []
        _ = await awaitCondition(timeout: .seconds(15)) {
            again = ((try? agents(host)) ?? [:]).values.compactMap { ($0["pid"] as? Int).map(Int32.init) }
            return again.count == 2
        }
        #expect(again.count == 2)
        let daemon = try #require(host.pid)
        kill(daemon, SIGKILL)
        #expect(await host.awaitExit(daemon))
        try host.mustStart("--mode", "host")
        #expect(await awaitCondition(timeout: .seconds(15)) { again.allSatisfy { !Self.alive($0) } }, "the killed daemon's agents are gone")
        var third: [Int32] = []
        _ = await awaitCondition(timeout: .seconds(15)) {
            third = ((try? agents(host)) ?? [:]).values.compactMap { ($0["pid"] as? Int).map(Int32.init) }
            return third.count == 2
        }
        #expect(third.count == 2 && Set(third).isDisjoint(with: again))
        try await host.mustCleanShutdown()
        #expect(third.allSatisfy { !Self.alive($0) })
    }

    @Test("a priced market: the agent pays each tick from its own wallet within its budget; empty, it goes dormant and stops ticking; funded, it ticks again")
    func funds() async throws {
        let priced = try await PricedJobTests().start(price: 21_000)
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let buyerURI = try #require(priced.wallet.uris["buyer"])
        try priced.wallet.command(["cmd": "set_balance", "wallet": "buyer", "msats": 42_000])
        let host = try PylonNode(relays: [rig.relay.url])
        _ = try spawn(host, "payer", "--interval", "2", "--budget-msats", "25000", "--nwc", buyerURI)
        try host.mustStart("--mode", "host")
        let dormant = await awaitCondition(timeout: .seconds(60), interval: .milliseconds(500)) {
            (try? agents(host)["payer"]?["state"] as? String) == "dormant"
        }
        let payerLog = (try? host.pylon("agent", "logs", "payer").stdout.suffix(2000)).map(String.init) ?? ""
        #expect(dormant, "\((try? agents(host)["payer"]) ?? [:]) \(payerLog)")
        let paid = try journal(host, "agent.ticked").filter { $0["outcome"] as? String == "ok" }
        #expect(paid.count == 2 && paid.allSatisfy { $0["cost_msats"] as? Int == 21_000 }, "\(paid)")
        #expect(try priced.wallet.balance("buyer") == 0)
        #expect(try journal(host, "payment.sent").count == 2)
        let ticks = try agents(host)["payer"]?["ticks"] as? Int
        try await Task.sleep(for: .seconds(5))  // two and a half intervals: a dormant agent does not tick
        #expect(try agents(host)["payer"]?["ticks"] as? Int == ticks)

        // The node's own wallet funds it.
        try priced.wallet.command(["cmd": "set_balance", "wallet": "provider", "msats": 1_000_000])
        #expect(try host.pylon("wallet", "connect", try #require(priced.wallet.uris["provider"])).status == 0)
        let funded = try host.pylon("agent", "fund", "payer", "100")
        #expect(funded.status == 0, "\(funded)")
        #expect(await awaitCondition(timeout: .seconds(40), interval: .milliseconds(500)) {
            ((try? journal(host, "agent.ticked")) ?? []).filter { $0["outcome"] as? String == "ok" }.count >= 3
        }, "ticks again once funded")
        let changes = try journal(host, "agent.state_changed").compactMap { $0["to"] as? String }
        #expect(changes.contains("dormant") && changes.last(where: { $0 != "dormant" }) != nil, "\(changes)")
        try await host.mustCleanShutdown()
    }

    @Test("no relay reachable: an agent waits for one instead of crashing, and ends with its daemon")
    func noRelay() async throws {
        let closed = try FreePort.next()
        let host = try PylonNode(relays: ["ws://127.0.0.1:\(closed)"])
        _ = try spawn(host, "patient", "--interval", "60")
        try host.mustStart("--mode", "host")
        var first: Int32?
        _ = await awaitCondition(timeout: .seconds(15)) {
            first = try? pid(host, "patient")
            return first != nil
        }
        let pid1 = try #require(first)
        try await Task.sleep(for: .seconds(12))  // past the 10 s a buyer gives its relays
        #expect(try pid(host, "patient") == pid1, "the same process")
        #expect(try journal(host, "agent.crashed").isEmpty)
        try await host.mustCleanShutdown()
        #expect(!Self.alive(pid1))
    }

    @Test("bad input: a name that is a path, a goal too large, an unknown agent, delete without --yes; the phrase is never in --json")
    func badInput() throws {
        let node = try PylonNode()
        for name in ["../x", "", "a/b", String(repeating: "n", count: 65)] {
            let run = try node.pylon("agent", "spawn", name)
            #expect(run.status != 0 && run.stderr.contains("not an agent name"), "\(name): \(run)")
        }
        let big = try node.pylon("agent", "spawn", "big", "--goal", String(repeating: "x", count: 2_001))
        #expect(big.status != 0 && big.stderr.contains("at most 2000"), "\(big)")
        #expect(try node.pylon("agent", "info", "nobody").stderr.contains("no agent named nobody"))
        let bad = try node.pylon("agent", "spawn", "walleted", "--nwc", "nostr+walletconnect://nothex?relay=ws://x&secret=zz")
        #expect(bad.status != 0 && !bad.stderr.contains("secret=zz"), "\(bad)")
        _ = try spawn(node, "keeper")
        let phrase = try String(contentsOf: node.home.file("agents/keeper/identity.mnemonic"), encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: node.home.file("agents/keeper/identity.mnemonic").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        for command in [["agent", "list", "--json"], ["agent", "info", "keeper", "--json"], ["events", "--json"]] {
            #expect(!(try node.pylon(command).stdout.contains(phrase.trimmingCharacters(in: .whitespacesAndNewlines))))
        }
        let ask = try node.pylon("agent", "delete", "keeper")
        #expect(ask.status != 0 && ask.stderr.contains("--yes"), "\(ask)")
        #expect(try node.pylon("agent", "delete", "keeper", "--yes").status == 0)
        #expect(!FileManager.default.fileExists(atPath: node.home.file("agents/keeper").path), "its files go with it")
        #expect(try agents(node).isEmpty)
        #expect(try journal(node, "agent.deleted").first?["name"] as? String == "keeper")

        // Files a deleted agent left behind do not stand in the way of a new one of that name.
        let leftovers = node.home.file("agents/keeper")
        try FileManager.default.createDirectory(at: leftovers, withIntermediateDirectories: true)
        try "not a phrase\n".write(to: leftovers.appending(path: "identity.mnemonic"), atomically: true, encoding: .utf8)
        try "nostr+walletconnect://stale\n".write(to: leftovers.appending(path: "wallet.nwc"), atomically: true, encoding: .utf8)
        let again = try spawn(node, "keeper")
        #expect(try agents(node)["keeper"]?["npub"] as? String == again.npub)
        #expect(!FileManager.default.fileExists(atPath: leftovers.appending(path: "wallet.nwc").path))
        #expect((try String(contentsOf: leftovers.appending(path: "identity.mnemonic"), encoding: .utf8)).split(separator: " ").count == 12)
    }

    @Test("a wallet that refuses: the tick ends with the wallet's reason and costs nothing; the agent and the daemon go on")
    func walletRefuses() async throws {
        let priced = try await PricedJobTests().start(price: 21_000)
        defer { priced.walletRelay.stop() }
        try priced.wallet.command(["cmd": "fail", "method": "pay_invoice", "code": "QUOTA_EXCEEDED", "message": "spending limit reached", "times": 100])
        let host = try PylonNode(relays: [priced.rig.relay.url])
        _ = try spawn(host, "thrifty", "--interval", "3600", "--budget-msats", "25000", "--nwc", try #require(priced.wallet.uris["buyer"]))
        _ = try spawn(host, "free", "--interval", "3600")
        try host.mustStart("--mode", "host")
        #expect(await awaitCondition(timeout: .seconds(30), interval: .milliseconds(300)) {
            ((try? journal(host, "agent.ticked")) ?? []).contains { $0["name"] as? String == "thrifty" }
        })
        let tick = try #require(try journal(host, "agent.ticked").first { $0["name"] as? String == "thrifty" })
        #expect(tick["outcome"] as? String == "payment_failed" && tick["cost_msats"] as? Int == 0, "\(tick)")
        #expect((tick["note"] as? String)?.localizedCaseInsensitiveContains("quota") == true, "\(tick)")
        let refused = try journal(host, "payment.refused")
        #expect(!refused.isEmpty && refused.allSatisfy { ($0["reason"] as? String)?.isEmpty == false })
        #expect(try priced.wallet.balance("buyer") == 1_000_000_000)
        #expect(try pid(host, "thrifty") != nil && pid(host, "free") != nil, "the agents go on")
        #expect(try journal(host, "agent.crashed").isEmpty)
        try await host.mustCleanShutdown()
    }
}
