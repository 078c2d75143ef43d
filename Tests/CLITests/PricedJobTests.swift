import Foundation
import NostrCore
import PylonTestSupport
import Testing

/// A priced provider (SPEC §8 "Payment") against a NIP-47 wallet service on its own relay: the
/// customer hears `payment-required` with an invoice, nothing runs before the wallet confirms the
/// payment, the earning is recorded once, and an unpaid invoice closes the job with an error.
@Suite("provider mode: priced jobs paid over Nostr Wallet Connect", .serialized)
struct PricedJobTests {
    init() {}
    struct PricedRig {
        let walletRelay: RelayProcess
        let wallet: TestWalletService
        let rig: ProviderRig
    }

    func start(
        price: Int = 21_000, expiry: Int = 600, notifications: Bool = true, behavior: MockLLMServer.Behavior = MockLLMServer.Behavior(),
        extra: String = ""
    ) async throws -> PricedRig {
        let walletRelay = try await RelayProcess.start(.rustNostr)
        let wallet = try await TestWalletService(relays: [walletRelay.url], notifications: notifications)
        let uri = try #require(wallet.uris["provider"])
        let rig = try await ProviderRig.start(
            provider: """
                price_msats = \(price)
                \(extra)
                [wallet]
                nwc = "\(uri)"
                invoice_expiry_secs = \(expiry)
                """, behavior: behavior)
        return PricedRig(walletRelay: walletRelay, wallet: wallet, rig: rig)
    }

    /// The invoice of the `payment-required` feedback for `id`.
    func awaitInvoice(_ priced: PricedRig, for id: String) async throws -> (msats: Int, bolt11: String) {
        let asked = await priced.rig.customer.awaitMessage(for: id, timeout: .seconds(20)) { $0["status"] as? String == "payment-required" }
        let amount = try #require(asked?["amount"] as? [String], "no payment-required for \(id): \(priced.rig.customer.messages(for: id))")
        let msats = try #require(Int(amount.first ?? ""))
        let bolt11 = try #require(amount.count > 1 ? amount[1] : nil)
        return (msats, bolt11)
    }

    @Test("payment-required with a signed invoice for the price; the job runs only once paid; the result carries the amount; the earning is recorded once")
    func paidJob() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["count to three", "text"]], provider: rig.provider, bid: 50_000)
        let (msats, bolt11) = try await awaitInvoice(priced, for: id)
        #expect(msats == 21_000)
        let invoice = try BOLT11Invoice(bolt11)
        #expect(invoice.amountMsats == 21_000 && invoice.network == .regtest)
        #expect(invoice.description?.contains(String(id.prefix(12))) == true)
        // Nothing runs before the payment.
        #expect(rig.customer.results(for: id).isEmpty)
        #expect(rig.mock.calls(.openAIChat) == 0)

        // The customer pays (a wallet of the same service).
        let payer = try TestHome()
        #expect(try payer.pylon("wallet", "connect", try #require(priced.wallet.uris["buyer"])).status == 0)
        #expect(try payer.pylon("wallet", "pay", bolt11).status == 0)

        let result = try #require(await rig.customer.awaitResult(for: id, timeout: .seconds(20)), "\(rig.customer.messages(for: id))")
        let tags = result["tags"] as? [[String]] ?? []
        #expect(tags.contains { $0.first == "amount" && $0.count > 1 && $0[1] == "21000" }, "\(tags)")
        #expect(rig.mock.calls(.openAIChat) == 1)

        let earnings = try #require(try rig.node.pylon("earnings", "--json").json() as? [String: Any])
        #expect(earnings["total_msats"] as? Int == 21_000, "\(earnings)")
        #expect((earnings["by_kind"] as? [String: Any])?["5050"] as? Int == 21_000, "\(earnings)")
        let recent = try #require((earnings["recent"] as? [[String: Any]])?.first)
        #expect(recent["job_id"] as? String == id && recent["kind"] as? Int == 5050 && recent["amount_msats"] as? Int == 21_000)
        #expect(recent["payment_hash"] as? String == invoice.paymentHash.hex && recent["time"] is String)
        #expect(try rig.metric("pylon_earnings_msats_total") == 21_000)
        #expect(try rig.metric("pylon_invoices_total", label: #"state="settled""#) == 1)
        #expect(try rig.metric("pylon_wallet_requests_total", label: #"method="make_invoice",outcome="ok""#) == 1)
        // The wallet's families, made on first use, pass promtool's lint like the rest.
        let lint = try PrometheusTools.promtool(["check", "metrics"], stdin: try rig.node.http("/metrics").body)
        #expect(lint.status == 0 && lint.stdout.isEmpty && lint.stderr.isEmpty, "promtool check metrics: \(lint)")
        let doctor = try #require(try rig.node.pylon("doctor", "--json").json() as? [String: Any])
        let walletCheck = (doctor["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "wallet" }
        #expect(walletCheck?["status"] as? String == "ok", "\(String(describing: walletCheck))")
        let journal = try rig.journal()
        #expect(journal.filter { $0["kind"] as? String == "invoice.created" }.count == 1)
        #expect(journal.filter { $0["kind"] as? String == "payment.received" }.count == 1)
        // One invoice for the job, settled.
        let invoices = try priced.wallet.command(["cmd": "invoices"])["invoices"] as? [[String: Any]] ?? []
        #expect(invoices.count == 1 && invoices.first?["state"] as? String == "settled", "\(invoices)")
    }

    @Test("without notifications the provider learns of the payment by looking the invoice up")
    func paidWithoutNotifications() async throws {
        let priced = try await start(notifications: false)
        defer { priced.walletRelay.stop() }
        let id = try await priced.rig.customer.request(inputs: [["one more", "text"]], provider: priced.rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        let hash = try BOLT11Invoice(bolt11).paymentHash.hex
        try priced.wallet.command(["cmd": "settle", "payment_hash": hash, "quiet": true])
        #expect(await priced.rig.customer.awaitResult(for: id, timeout: .seconds(30)) != nil, "\(priced.rig.customer.messages(for: id))")
        let requests = try priced.wallet.requests()
        #expect(((requests["methods"] as? [String: Any])?["lookup_invoice"] as? Int ?? 0) >= 1, "\(requests)")
    }

    @Test("a payment notification settles its job without a lookup, and a free slot starts the job in the payment's own transaction")
    func notifiedPayment() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        // Every lookup fails: only the wallet's notification can tell the provider of the payment.
        _ = try priced.wallet.command(["cmd": "fail", "method": "lookup_invoice", "code": "INTERNAL", "times": 1000])
        let id = try await rig.customer.request(inputs: [["notify me", "text"]], provider: rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        _ = try priced.wallet.command(["cmd": "settle", "payment_hash": try BOLT11Invoice(bolt11).paymentHash.hex])
        #expect(await rig.customer.awaitResult(for: id, timeout: .seconds(20)) != nil, "\(rig.customer.messages(for: id))")
        #expect(try rig.metric("pylon_invoices_total", label: #"state="settled""#) == 1)
        // payment.received and job.started are one write: adjacent in the journal, with one time.
        let journal = try rig.journal().filter { ($0["data"] as? [String: Any]).map { $0["job_id"] as? String == id || $0["id"] as? String == id } ?? false }
        let paid = try #require(journal.firstIndex { $0["kind"] as? String == "payment.received" }, "\(journal)")
        #expect(journal.count > paid + 1 && journal[paid + 1]["kind"] as? String == "job.started", "\(journal)")
        #expect(journal.count > paid + 1 && journal[paid + 1]["seq"] as? Int == (journal[paid]["seq"] as? Int).map { $0 + 1 })
        #expect(journal.count > paid + 1 && journal[paid + 1]["time"] as? String == journal[paid]["time"] as? String)
    }

    @Test("an invoice left unpaid closes the job with an error; nothing runs; a bid below the price is refused")
    func unpaidAndLowBid() async throws {
        let priced = try await start(expiry: 3)
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["never paid", "text"]], provider: rig.provider, bid: 21_000)
        _ = try await awaitInvoice(priced, for: id)
        let error = await rig.customer.awaitMessage(for: id, timeout: .seconds(20)) { $0["status"] as? String == "error" }
        #expect((error?["extra"] as? String)?.contains("payment not received") == true, "\(rig.customer.messages(for: id))")
        #expect(rig.mock.calls(.openAIChat) == 0)
        let job = try #require(try rig.node.pylon("jobs", "--json").json() as? [[String: Any]]).first { $0["id"] as? String == id }
        #expect(job?["status"] as? String == "failed", "\(String(describing: job))")

        let low = try await rig.customer.request(inputs: [["cheap", "text"]], provider: rig.provider, bid: 1_000)
        let refused = await rig.customer.awaitMessage(for: low, timeout: .seconds(20)) { $0["status"] as? String == "error" }
        #expect((refused?["extra"] as? String)?.contains("below the price") == true)
    }

    /// Kills the daemon with SIGKILL and waits until it is gone.
    func crash(_ rig: ProviderRig) async throws {
        let pid = try #require(rig.node.pid)
        kill(pid, SIGKILL)
        #expect(await rig.node.awaitExit(pid))
    }

    func invoices(_ priced: PricedRig) throws -> [[String: Any]] {
        try priced.wallet.command(["cmd": "invoices"])["invoices"] as? [[String: Any]] ?? []
    }

    @Test("kill -9 after payment-required; paid while the daemon is down: after a restart the job runs once, on the same invoice, paid once")
    func paidWhileDown() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["paid in the dark", "text"]], provider: rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        try await crash(rig)
        let hash = try BOLT11Invoice(bolt11).paymentHash.hex
        try priced.wallet.command(["cmd": "settle", "payment_hash": hash, "quiet": true])
        try rig.node.mustStart("--mode", "provider")
        let result = await rig.customer.awaitResult(for: id, timeout: .seconds(30))
        #expect(result != nil, "\(rig.customer.messages(for: id))")
        #expect(rig.mock.calls(.openAIChat) == 1)
        #expect(try invoices(priced).count == 1, "one invoice per job, ever")
        let earnings = try #require(try rig.node.pylon("earnings", "--json").json() as? [String: Any])
        #expect(earnings["total_msats"] as? Int == 21_000)
        #expect(try rig.journal().filter { $0["kind"] as? String == "payment.received" }.count == 1)
        // The restart asked again for the same invoice, never for another.
        let asked = rig.customer.messages(for: id).filter { $0["status"] as? String == "payment-required" }
        #expect(asked.allSatisfy { ($0["amount"] as? [String])?.last == bolt11 })
    }

    @Test("kill -9 while waiting, not paid yet: after a restart the job still waits, and runs once paid")
    func unpaidAcrossRestart() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["wait for me", "text"]], provider: rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        try await crash(rig)
        func lookups() throws -> Int { ((try priced.wallet.requests()["methods"] as? [String: Any])?["lookup_invoice"] as? Int) ?? 0 }
        let before = try lookups()
        try rig.node.mustStart("--mode", "provider")
        // The restarted daemon follows the same invoice: it asks the wallet about it, makes no other.
        #expect(await awaitCondition(timeout: .seconds(20)) { ((try? lookups()) ?? 0) > before })
        #expect(try invoices(priced).count == 1)
        #expect(rig.mock.calls(.openAIChat) == 0)
        let payer = try TestHome()
        #expect(try payer.pylon("wallet", "connect", try #require(priced.wallet.uris["buyer"])).status == 0)
        #expect(try payer.pylon("wallet", "pay", bolt11).status == 0)
        #expect(await rig.customer.awaitResult(for: id, timeout: .seconds(30)) != nil)
        #expect(try invoices(priced).count == 1)
        #expect(rig.customer.results(for: id).count == 1)
    }

    @Test("kill -9 while a paid job runs: after a restart it runs again and ends once, paid once")
    func crashWhileRunning() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(500)
        let priced = try await start(behavior: behavior)
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["paid and interrupted", "text"]], provider: rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        try priced.wallet.command(["cmd": "settle", "payment_hash": try BOLT11Invoice(bolt11).paymentHash.hex])
        #expect(await rig.customer.awaitStatus("processing", for: id) != nil)
        try await crash(rig)
        rig.mock.update { $0.perTokenDelay = .zero }
        try rig.node.mustStart("--mode", "provider")
        #expect(await rig.customer.awaitResult(for: id, timeout: .seconds(30)) != nil)
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        #expect(rig.customer.results(for: id).count == 1)
        #expect(try invoices(priced).count == 1)
        #expect(try rig.journal().filter { $0["kind"] as? String == "payment.received" }.count == 1)
    }

    @Test("kill -9 while waiting; the invoice expires while the daemon is down: after a restart the job is closed with an error, nothing runs")
    func expiredWhileDown() async throws {
        let priced = try await start(expiry: 2)
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["too late", "text"]], provider: rig.provider, bid: 21_000)
        _ = try await awaitInvoice(priced, for: id)
        try await crash(rig)
        try await Task.sleep(for: .seconds(3))  // the invoice's own expiry, not a synchronisation
        try rig.node.mustStart("--mode", "provider")
        let error = await rig.customer.awaitMessage(for: id, timeout: .seconds(20)) { $0["status"] as? String == "error" }
        #expect((error?["extra"] as? String)?.contains("payment not received") == true, "\(rig.customer.messages(for: id))")
        #expect(rig.mock.calls(.openAIChat) == 0)
        #expect(try invoices(priced).count == 1)
    }

    @Test("kill -9 after the wallet made the invoice and before the daemon recorded it: after a restart the same invoice is asked for, no second one")
    func invoiceMadeNotRecorded() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        // The wallet makes the invoice at once and answers late: the daemon dies waiting.
        try priced.wallet.command(["cmd": "delay", "method": "make_invoice", "seconds": 30])
        let id = try await rig.customer.request(inputs: [["made in the dark", "text"]], provider: rig.provider, bid: 21_000)
        #expect(await awaitCondition(timeout: .seconds(20)) { ((try? invoices(priced)) ?? []).count == 1 })
        try await crash(rig)
        #expect(rig.customer.messages(for: id).allSatisfy { $0["status"] as? String != "payment-required" }, "the customer heard nothing yet")
        try priced.wallet.command(["cmd": "delay", "method": "make_invoice", "seconds": 0])
        let made = try #require(try invoices(priced).first?["invoice"] as? String)
        try rig.node.mustStart("--mode", "provider")
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        #expect(bolt11 == made, "the invoice the wallet made before the crash")
        #expect(try invoices(priced).count == 1, "one invoice per job, ever")
        try priced.wallet.command(["cmd": "settle", "payment_hash": try BOLT11Invoice(bolt11).paymentHash.hex])
        #expect(await rig.customer.awaitResult(for: id, timeout: .seconds(30)) != nil, "\(rig.customer.messages(for: id))")
        #expect(rig.mock.calls(.openAIChat) == 1)
        let journal = try rig.journal()
        #expect(journal.filter { $0["kind"] as? String == "invoice.created" }.count == 1)
        #expect(journal.filter { $0["kind"] as? String == "payment.received" }.count == 1)
    }

    @Test("kill -9 after a payment was recorded and before its job started: after a restart it runs once, paid once")
    func paidNotStarted() async throws {
        var behavior = MockLLMServer.Behavior()
        behavior.perTokenDelay = .milliseconds(500)
        let priced = try await start(behavior: behavior, extra: "max_concurrent_jobs = 1")
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        // The first paid job takes the only slot; the second is paid and waits for it.
        let first = try await rig.customer.request(inputs: [["first", "text"]], provider: rig.provider, bid: 21_000)
        let second = try await rig.customer.request(inputs: [["second", "text"]], provider: rig.provider, bid: 21_000)
        for id in [first, second] {
            let (_, bolt11) = try await awaitInvoice(priced, for: id)
            try priced.wallet.command(["cmd": "settle", "payment_hash": try BOLT11Invoice(bolt11).paymentHash.hex])
        }
        #expect(await rig.customer.awaitStatus("processing", for: first) != nil)
        #expect(await awaitCondition(timeout: .seconds(20)) {
            ((try? rig.journal()) ?? []).filter { $0["kind"] as? String == "payment.received" }.count == 2
        })
        #expect(rig.customer.messages(for: second).allSatisfy { $0["status"] as? String != "processing" }, "the second job has not started")
        try await crash(rig)
        rig.mock.update { $0.perTokenDelay = .zero }
        try rig.node.mustStart("--mode", "provider")
        for id in [first, second] {
            #expect(await rig.customer.awaitStatus("success", for: id, timeout: .seconds(30)) != nil, "\(rig.customer.messages(for: id))")
            #expect(rig.customer.results(for: id).count == 1)
        }
        #expect(try invoices(priced).count == 2)
        let earnings = try #require(try rig.node.pylon("earnings", "--json").json() as? [String: Any])
        #expect(earnings["total_msats"] as? Int == 42_000, "\(earnings)")
        #expect(try rig.journal().filter { $0["kind"] as? String == "payment.received" }.count == 2)
    }

    @Test("kill -9 between a paid job's result reaching a relay and its record: after a restart it is closed with that result, not run again, paid once")
    func answeredNotRecorded() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        let id = try await rig.customer.request(inputs: [["answered in the dark", "text"]], provider: rig.provider, bid: 21_000)
        let (_, bolt11) = try await awaitInvoice(priced, for: id)
        try priced.wallet.command(["cmd": "settle", "payment_hash": try BOLT11Invoice(bolt11).paymentHash.hex])
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        try await crash(rig)
        // The state that kill -9 leaves when it falls between the relay's OK and the record (a
        // window of microseconds, reproduced here): paid, running, no result recorded.
        try SQLite.execute(rig.node.home.file("pylon.db"), "UPDATE jobs SET status = 'running', result_event_id = NULL, finished_at = NULL WHERE id = '\(id)'")
        let calls = rig.mock.calls(.openAIChat)
        try rig.node.mustStart("--mode", "provider")
        #expect(await rig.node.awaitStatus { ($0["jobs_completed"] as? Int) == 1 })
        let job = try #require((try rig.node.pylon("jobs", "--json").json() as? [[String: Any]])?.first { $0["id"] as? String == id })
        #expect(job["status"] as? String == "completed")
        #expect(job["result_event_id"] as? String == rig.customer.results(for: id).first?["id"] as? String)
        #expect(rig.mock.calls(.openAIChat) == calls, "not run again")
        #expect(rig.customer.results(for: id).count == 1)
        #expect(try invoices(priced).count == 1)
        let earnings = try #require(try rig.node.pylon("earnings", "--json").json() as? [String: Any])
        #expect(earnings["total_msats"] as? Int == 21_000, "\(earnings)")
    }

    @Test("a payment notification that no job waits for is journaled and counted, and changes no job and no earning")
    func unmatchedPayment() async throws {
        let priced = try await start()
        defer { priced.walletRelay.stop() }
        let rig = priced.rig
        // An invoice of the node's wallet made outside any job, then paid.
        let made = try #require(try rig.node.pylon("wallet", "invoice", "5", "--memo", "a tip", "--json").json() as? [String: Any])
        let bolt11 = try #require(made["bolt11"] as? String)
        let hash = try #require(made["payment_hash"] as? String)
        let payer = try TestHome()
        #expect(try payer.pylon("wallet", "connect", try #require(priced.wallet.uris["buyer"])).status == 0)
        #expect(try payer.pylon("wallet", "pay", bolt11).status == 0)
        let entry = await awaitCondition(timeout: .seconds(15), interval: .milliseconds(200)) {
            ((try? rig.journal()) ?? []).contains {
                $0["kind"] as? String == "payment.unmatched" && ($0["data"] as? [String: Any])?["payment_hash"] as? String == hash
            }
        }
        #expect(entry, "payment.unmatched journaled")
        #expect(try rig.metric("pylon_wallet_notifications_unmatched_total") == 1)
        let earnings = try #require(try rig.node.pylon("earnings", "--json").json() as? [String: Any])
        #expect(earnings["total_msats"] as? Int == 0)
        #expect(try rig.journal().filter { $0["kind"] as? String == "payment.received" }.isEmpty)
    }
}
