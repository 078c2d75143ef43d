import Foundation
import PylonTestSupport
import Testing

/// The status page (SPEC §6, issue 20): `GET /` in a real browser (Debian's headless Chromium),
/// and the JSON endpoints it reads, against a priced provider that has served one paid job. The
/// node's config holds an NWC secret and its backend needs an API key, so the tests can look for
/// them (and for the mnemonic) where they must never appear.
@Suite("status page: GET / in a real browser, /api/status, /api/jobs, /api/history", .serialized)
struct StatusPageTests {
    init() {}

    static let apiKey = "sk-status-page-test-6f1d0c8a2b"

    final class Rig: Sendable {
        let relay: RelayProcess
        let walletRelay: RelayProcess
        let wallet: TestWalletService
        let mock: MockLLMServer
        let node: PylonNode
        let customer: DVMCustomer
        let nwcURI: String
        let jobID: String

        init(
            relay: RelayProcess, walletRelay: RelayProcess, wallet: TestWalletService, mock: MockLLMServer, node: PylonNode,
            customer: DVMCustomer, nwcURI: String, jobID: String
        ) {
            self.relay = relay
            self.walletRelay = walletRelay
            self.wallet = wallet
            self.mock = mock
            self.node = node
            self.customer = customer
            self.nwcURI = nwcURI
            self.jobID = jobID
        }

        /// Stops the daemon and both relays when the test lets go of the rig.
        deinit {
            _ = try? node.pylon("stop")
            relay.stop()
            walletRelay.stop()
        }

        var mnemonic: String {
            (try? String(contentsOf: node.home.file("identity.mnemonic"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        }

        /// The `secret` of the NWC URI (NIP-47): what must never be shown.
        var nwcSecret: String {
            URLComponents(string: nwcURI)?.queryItems?.first { $0.name == "secret" }?.value ?? ""
        }
    }

    /// A priced provider (21 sats a job, NWC wallet, an OpenAI-compatible backend behind an API
    /// key) that has served one paid job.
    static func start() async throws -> Rig {
        let relay = try await RelayProcess.start(.nostrRelay)
        let walletRelay = try await RelayProcess.start(.rustNostr)
        let wallet = try await TestWalletService(relays: [walletRelay.url])
        let uri = try #require(wallet.uris["provider"])
        var behavior = MockLLMServer.Behavior()
        behavior.requiredAPIKey = apiKey
        let mock = MockLLMServer(behavior: behavior)
        try await mock.start()
        let node = try PylonNode(
            relays: [relay.url],
            extraConfig: """
                [provider]
                rate_limit_per_minute = 0
                price_msats = 21000
                [wallet]
                nwc = "\(uri)"
                [backends]
                preference = ["openai"]
                openai_url = "\(mock.baseURL)"
                openai_api_key_env = "PYLON_STATUS_PAGE_KEY"

                """)
        let started = try node.home.run(["start", "--mode", "provider"], environment: ["PYLON_STATUS_PAGE_KEY": apiKey])
        guard started.status == 0 else { throw PylonNode.NodeError(message: "pylon start failed: \(started)\n\(node.log.suffix(3000))") }
        let ready = await node.awaitStatus(timeout: .seconds(20)) { status in
            let relays = status["relays"] as? [[String: Any]] ?? []
            let backends = status["backends"] as? [[String: Any]] ?? []
            return relays.allSatisfy { $0["state"] as? String == "connected" } && backends.contains { $0["state"] as? String == "ready" }
        }
        guard ready else { throw PylonNode.NodeError(message: "the provider did not get ready: \(node.log.suffix(3000))") }
        let identity = try node.pylon("identity", "--json").json() as? [String: Any]
        let provider = try #require(identity?["pubkey"] as? String)
        let customer = try await DVMCustomer(relays: [relay.url])

        // One paid job: payment-required, the customer pays from the same wallet service, result.
        let id = try await customer.request(inputs: [["status page, please", "text"]], provider: provider, bid: 50_000)
        let asked = await customer.awaitMessage(for: id, timeout: .seconds(20)) { $0["status"] as? String == "payment-required" }
        let amount = try #require(asked?["amount"] as? [String], "no payment-required: \(customer.messages(for: id))")
        let bolt11 = try #require(amount.count > 1 ? amount[1] : nil)
        let payer = try TestHome()
        #expect(try payer.pylon("wallet", "connect", try #require(wallet.uris["buyer"])).status == 0)
        #expect(try payer.pylon("wallet", "pay", bolt11).status == 0)
        _ = try #require(await customer.awaitResult(for: id, timeout: .seconds(20)), "\(customer.messages(for: id))")
        _ = await customer.awaitStatus("success", for: id)
        return Rig(relay: relay, walletRelay: walletRelay, wallet: wallet, mock: mock, node: node, customer: customer, nwcURI: uri, jobID: id)
    }

    static func json(_ body: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])
    }

    /// JSON with sorted keys: equal values, equal text.
    static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The UTC day of now, as `/api/history` names days.
    static var today: String { String(ISO8601DateFormatter().string(from: Date()).prefix(10)) }

    @Test("/api/status is the socket's Status; /api/jobs is jobs --json and refuses a bad limit with a JSON 400; /api/history has 168 hours and 7 days; no secret anywhere")
    func endpoints() async throws {
        let rig = try await Self.start()
        let node = rig.node

        // /api/status: the same report `status --json` gets over the socket (uptime aside).
        let page = try node.http("/api/status")
        #expect(page.status == 200)
        var fromHTTP = try #require(Self.json(page.body) as? [String: Any], "\(page.body)")
        var fromSocket = try node.status()
        #expect(Array(fromHTTP.keys).sorted() == Array(fromSocket.keys).sorted())
        #expect(fromHTTP.keys.contains("relays") && fromHTTP.keys.contains("queue") && fromHTTP.keys.contains("earnings"))
        fromHTTP["uptime_secs"] = nil
        fromSocket["uptime_secs"] = nil
        #expect(try Self.canonical(fromHTTP) == Self.canonical(fromSocket))
        #expect((fromHTTP["earnings"] as? [String: Any])?["today_msats"] as? Int == 21_000)

        // /api/jobs: the default is the newest 20, exactly as `jobs --json` prints them.
        let jobs = try node.http("/api/jobs")
        #expect(jobs.status == 200)
        let served = try #require(Self.json(jobs.body) as? [[String: Any]], "\(jobs.body)")
        let printed = try #require(try node.pylon("jobs", "--json").json() as? [[String: Any]])
        #expect(served.count == 1 && served.first?["id"] as? String == rig.jobID)
        #expect(try Self.canonical(served) == Self.canonical(printed))
        #expect(served.first?["status"] as? String == "completed" && served.first?["price_msats"] as? Int == 21_000)
        let completed = Self.json(try node.http("/api/jobs?limit=1&status=completed").body) as? [[String: Any]]
        #expect(completed?.count == 1)
        let failed = Self.json(try node.http("/api/jobs?status=failed").body) as? [[String: Any]]
        #expect(failed?.count == 0)
        for bad in ["limit=abc", "limit=0", "limit=501", "limit=-3", "limit=", "limit=1&limit=2", "status=done", "limit=%2B5"] {
            let answer = try node.http("/api/jobs?\(bad)")
            #expect(answer.status == 400, "\(bad): \(answer)")
            let error = (Self.json(answer.body) as? [String: Any])?["error"] as? String
            #expect(error?.isEmpty == false, "\(bad) gets a JSON error: \(answer.body)")
        }
        let named = (Self.json(try node.http("/api/jobs?limit=abc").body) as? [String: Any])?["error"] as? String
        #expect(named == "limit must be a whole number from 1 to 500, got \"abc\"")

        // /api/history: 168 hours and 7 days, ending now; the paid job and its earning are in them.
        let history = try #require(Self.json(try node.http("/api/history").body) as? [String: Any])
        let hours = try #require(history["jobs_per_hour"] as? [[String: Any]])
        let days = try #require(history["earnings_per_day"] as? [[String: Any]])
        #expect(hours.count == 168 && days.count == 7)
        #expect(hours.compactMap { $0["jobs"] as? Int }.reduce(0, +) == 1)
        #expect(days.last?["day"] as? String == Self.today)
        #expect(days.last?["msats"] as? Int == 21_000)

        // No secret in the page or in anything it reads.
        let mnemonic = rig.mnemonic
        let secret = rig.nwcSecret
        #expect(mnemonic.split(separator: " ").count >= 12 && secret.count == 64, "the test knows the secrets it looks for")
        for path in ["/", "/api/status", "/api/jobs?limit=500", "/api/history", "/readyz", "/metrics"] {
            let body = try node.http(path).body
            #expect(!body.isEmpty, "\(path)")
            for (name, value) in [("the mnemonic", mnemonic), ("the NWC secret", secret), ("the NWC URI", rig.nwcURI), ("the API key", Self.apiKey)] {
                #expect(!body.contains(value), "\(path) shows \(name)")
            }
            #expect(!body.contains(String(mnemonic.split(separator: " ").prefix(4).joined(separator: " "))), "\(path) shows part of the mnemonic")
        }
        try await node.mustCleanShutdown()
    }

    @Test(
        "headless Chromium renders the state, a relay row, the backend, the paid job and both charts, and the page requests nothing but the daemon",
        .enabled(
            if: HeadlessChromium.find() != nil || ProcessInfo.processInfo.environment["CI"] == "true",
            "\(HeadlessChromium.missingReason); in CI (CI=true) the test runs and fails instead"))
    func browser() async throws {
        let chromium = try #require(HeadlessChromium.find(), "\(HeadlessChromium.missingReason)")
        let rig = try await Self.start()
        let node = rig.node
        let origin = "http://127.0.0.1:\(node.httpPort)"

        let load = try chromium.load(origin + "/")
        let dom = load.dom
        // The page's script ran and rendered what the daemon reported.
        #expect(Self.tag(in: dom, id: "state")?.contains(#"data-state="running""#) == true, "\(dom.prefix(3000))")
        #expect(Self.text(in: dom, id: "state") == "running")
        #expect(Self.text(in: dom, id: "ready") == "ready")
        #expect(Self.text(in: dom, id: "mode") == "provider")
        let relayRow = Self.tag(in: dom, attribute: "data-relay-url", value: rig.relay.url)
        #expect(relayRow?.contains(#"data-state="connected""#) == true, "no connected row for \(rig.relay.url)")
        #expect(Self.tag(in: dom, attribute: "data-backend", value: "openai")?.contains(#"data-state="ready""#) == true)
        #expect(dom.contains("mock-model"))
        let jobRow = Self.tag(in: dom, attribute: "data-job-id", value: rig.jobID)
        #expect(jobRow?.contains(#"data-status="completed""#) == true, "no completed row for job \(rig.jobID)")
        #expect(Self.text(in: dom, id: "earnings-today") == "21 sats")
        // Charts: 168 hour bars holding the one job, 7 day bars with today's 21 sats.
        let hourBars = Self.values(in: dom, attribute: "data-jobs")
        #expect(hourBars.count == 168 && hourBars.reduce(0, +) == 1, "\(hourBars)")
        #expect(Self.tag(in: dom, attribute: "data-day", value: Self.today)?.contains(#"data-msats="21000""#) == true)
        #expect(Self.values(in: dom, attribute: "data-msats").count == 7)
        // The page asked the daemon and nothing else. The page's own requests are those made for
        // its site (the browser's own background requests are for no site, and cannot reach
        // anything: every host name resolves to nothing).
        let pageRequests = load.pageRequests(origin: origin)
        for path in ["/", "/api/status", "/api/jobs?limit=20", "/api/history", "/readyz"] {
            #expect(pageRequests.contains { $0.url == origin + path }, "the page did not request \(path): \(pageRequests)")
        }
        let outside = load.outsideRequests(origin: origin)
        #expect(outside.isEmpty, "the page made requests outside the daemon: \(outside)")
        // No secret in what the browser rendered.
        for value in [rig.mnemonic, rig.nwcSecret, Self.apiKey] { #expect(!dom.contains(value)) }

        // `PYLON_STATUS_PAGE_SCREENSHOT=docs/status-page.png` also saves the README's screenshot.
        if let path = ProcessInfo.processInfo.environment["PYLON_STATUS_PAGE_SCREENSHOT"], !path.isEmpty {
            let file = URL(fileURLWithPath: path)
            _ = try chromium.load(origin + "/", screenshot: file, windowSize: (1200, 900))
            let png = try Data(contentsOf: file)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000)
        }
        try await node.mustCleanShutdown()
    }

    @Test(
        "the check of outside requests catches them: a page with an external image, script and fetch is caught (a control)",
        .enabled(
            if: HeadlessChromium.find() != nil || ProcessInfo.processInfo.environment["CI"] == "true",
            "\(HeadlessChromium.missingReason); in CI (CI=true) the test runs and fails instead"))
    func outsideRequestsAreSeen() async throws {
        let chromium = try #require(HeadlessChromium.find(), "\(HeadlessChromium.missingReason)")
        // Given a page that reaches for three other hosts, served by Python's http.server
        let site = try TestHome()
        try site.write(
            """
            <!doctype html><html><body><p id="x">before</p><img src="http://images.example/a.png">
            <script src="https://cdn.example/lib.js"></script>
            <script>fetch("/local.json").catch(() => {}); fetch("https://api.example/data").catch(() => {});
            document.getElementById("x").textContent = "after";</script></body></html>
            """, to: "index.html")
        try site.write("{}", to: "local.json")
        let port = try FreePort.next()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", site.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // SIGKILL: a child of the test process starts with SIGTERM blocked (the mask of the
            // thread that spawned it), so `terminate()` would never end it.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let up = await awaitCondition(timeout: .seconds(10), interval: .milliseconds(50)) {
            (try? HTTPGet.get(host: "127.0.0.1", port: port, path: "/local.json").status) == 200
        }
        try #require(up, "python3 -m http.server did not answer")
        let origin = "http://127.0.0.1:\(port)"
        // When Chromium loads it
        let load = try chromium.load(origin + "/", budget: .seconds(3))
        // Then the script ran, the local fetch is the page's, and the three outside requests are seen
        #expect(load.dom.contains(#"<p id="x">after</p>"#))
        #expect(load.pageRequests(origin: origin).contains { $0.url == origin + "/local.json" })
        let outside = Set(load.outsideRequests(origin: origin).map(\.url))
        #expect(outside.isSuperset(of: ["http://images.example/a.png", "https://cdn.example/lib.js", "https://api.example/data"]), "\(outside)")
    }


    // MARK: DOM helpers (the serialized DOM Chromium prints)

    /// The opening tag of the element with `attribute="value"`.
    static func tag(in dom: String, attribute: String, value: String) -> String? {
        guard let hit = dom.range(of: "\(attribute)=\"\(value)\"") else { return nil }
        guard let open = dom[..<hit.lowerBound].range(of: "<", options: .backwards),
            let close = dom[hit.upperBound...].range(of: ">")
        else { return nil }
        return String(dom[open.lowerBound..<close.upperBound])
    }

    static func tag(in dom: String, id: String) -> String? { tag(in: dom, attribute: "id", value: id) }

    /// The text of the element with `id` when it holds text only.
    static func text(in dom: String, id: String) -> String? {
        guard let open = tag(in: dom, id: id), let start = dom.range(of: open) else { return nil }
        let rest = dom[start.upperBound...]
        guard let end = rest.range(of: "<") else { return nil }
        return String(rest[..<end.lowerBound])
    }

    /// Every integer value of `attribute` in the DOM.
    static func values(in dom: String, attribute: String) -> [Int] {
        dom.components(separatedBy: " \(attribute)=\"").dropFirst().compactMap { Int($0.prefix { $0 != "\"" }) }
    }
}
