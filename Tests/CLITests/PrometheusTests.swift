import Foundation
import PylonTestSupport
import Testing

/// `/metrics` against the real Prometheus tools (Debian's `prometheus` 2.42 and its `promtool`),
/// and the dashboard and alert rules in `contrib/` against what a running provider exposes.
@Suite("Prometheus and Grafana: a real Prometheus scrapes a provider", .serialized)
struct PrometheusTests {
    static let rules = TestPaths.packageRoot.appending(path: "contrib/prometheus/pylon-rules.yml")
    static let rulesTest = TestPaths.packageRoot.appending(path: "contrib/prometheus/pylon-rules.test.yml")
    static let dashboard = TestPaths.packageRoot.appending(path: "contrib/grafana/pylon.json")

    @Test("the example alert rules pass promtool check rules, and their unit tests pass promtool test rules")
    func alertRules() throws {
        let check = try PrometheusTools.promtool(["check", "rules", Self.rules.path])
        #expect(check.status == 0, "promtool check rules: \(check)")
        #expect(check.stdout.contains("SUCCESS: 4 rules found"), "\(check)")
        let test = try PrometheusTools.promtool(["test", "rules", Self.rulesTest.path])
        #expect(test.status == 0, "promtool test rules: \(test)")
    }

    @Test("after a job: promtool check metrics finds no problem, Prometheus ingests the job counter, and every dashboard and rule query names series it holds")
    func scrapedProvider() async throws {
        let rig = try await ProviderRig.start()
        let prometheus = try await PrometheusProcess.start(scraping: ["127.0.0.1:\(rig.node.httpPort)"])
        defer { prometheus.stop() }

        // Given a job served, and a request rejected (a future created_at), so that counters move.
        let prompt = "scrape me"
        let id = try await rig.customer.request(inputs: [[prompt, "text"]], provider: rig.provider)
        #expect(await rig.customer.awaitStatus("success", for: id) != nil)
        let now = Int64(Date().timeIntervalSince1970)
        _ = try await rig.customer.request(inputs: [["later", "text"]], provider: rig.provider, createdAt: now + 3600)
        #expect(await awaitCondition(timeout: .seconds(10)) {
            ((try? rig.metric("pylon_provider_requests_rejected_total", label: "reason=\"future\"")) ?? 0) == 1
        })

        // Then the exposition passes promtool's lint: HELP and TYPE on every family, counters
        // ending in _total, base units.
        let exposition = try rig.node.http("/metrics").body
        let lint = try PrometheusTools.promtool(["check", "metrics"], stdin: exposition)
        #expect(lint.status == 0 && lint.stdout.isEmpty && lint.stderr.isEmpty, "promtool check metrics: \(lint)")
        let lines = exposition.split(separator: "\n")
        let typed = Set(lines.filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
        let helped = Set(lines.filter { $0.hasPrefix("# HELP ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
        #expect(typed.count >= 25, "the provider exposes its families: \(typed.sorted())")
        #expect(typed.subtracting(helped).isEmpty, "families without HELP: \(typed.subtracting(helped).sorted())")
        #expect(lines.contains { $0.hasPrefix("# TYPE pylon_provider_job_duration_seconds histogram") })

        // And Prometheus has scraped the job counter.
        let completed = "pylon_provider_jobs_finished_total{job=\"pylon\",outcome=\"completed\"}"
        let ingested = await awaitCondition(timeout: .seconds(30), interval: .milliseconds(250)) {
            (try? prometheus.query(completed).first?.value) == 1
        }
        #expect(ingested, "Prometheus did not ingest \(completed) = 1: \(String(describing: try? prometheus.query(completed))); log: \(prometheus.log.suffix(2000))")
        let up = try prometheus.query("up{job=\"pylon\"}")
        #expect(up.map(\.value) == [1], "the scrape target is up: \(up)")
        // rate() over [1m] needs two samples in the window.
        #expect(await awaitCondition(timeout: .seconds(15), interval: .milliseconds(250)) {
            ((try? prometheus.query("count_over_time(\(completed)[1m])").first?.value) ?? 0) >= 3
        })

        let held = try prometheus.seriesNames(matching: "pylon_.*")

        // The dashboard: every query (panels and variables) names only series Prometheus holds,
        // and each panel query runs and returns data.
        let queries = try Self.dashboardQueries()
        #expect(queries.count >= 20, "the dashboard's queries: \(queries)")
        for query in queries {
            let names = Self.metricNames(in: query)
            #expect(!names.isEmpty, "the query names no pylon metric: \(query)")
            #expect(names.isSubset(of: held), "\(query) names series Prometheus does not hold: \(names.subtracting(held).sorted())")
        }
        for query in queries where !query.hasPrefix("label_values(") {
            let expression = Self.substituteVariables(query)
            let answered = await awaitCondition(timeout: .seconds(10), interval: .milliseconds(250)) {
                ((try? prometheus.query(expression)) ?? []).isEmpty == false
            }
            #expect(answered, "no data for \(expression): \(Result { try prometheus.query(expression) })")
        }

        // The alert rules name only series Prometheus holds.
        let rules = try String(contentsOf: Self.rules, encoding: .utf8)
        let ruleNames = Self.metricNames(in: rules, skippingQuotes: false)
        #expect(ruleNames.count >= 4)
        #expect(ruleNames.isSubset(of: held), "the rules name series Prometheus does not hold: \(ruleNames.subtracting(held).sorted())")
    }

    /// Every `expr` of the dashboard's panels and the query of each of its variables.
    static func dashboardQueries() throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: dashboard)) as? [String: Any]
        var queries: [String] = []
        func panels(_ list: [[String: Any]]) {
            for panel in list {
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    if let expr = target["expr"] as? String { queries.append(expr) }
                }
                panels(panel["panels"] as? [[String: Any]] ?? [])
            }
        }
        panels(object?["panels"] as? [[String: Any]] ?? [])
        let variables = (object?["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in variables where variable["type"] as? String == "query" {
            if let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String { queries.append(query) }
        }
        return queries
    }

    /// The `pylon_…` metric names in a PromQL expression (outside quoted strings), or in any text.
    static func metricNames(in text: String, skippingQuotes: Bool = true) -> Set<String> {
        var unquoted = ""
        var quote: Character?
        for character in text {
            guard skippingQuotes else {
                unquoted.append(character)
                continue
            }
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" || character == "`" {
                quote = character
            } else {
                unquoted.append(character)
            }
        }
        let identifier = #/pylon_[A-Za-z0-9_:]*/#
        return Set(unquoted.matches(of: identifier).map { String($0.output) })
    }

    /// Grafana's variables as a dashboard would fill them in: every instance, short windows.
    static func substituteVariables(_ query: String) -> String {
        query.replacingOccurrences(of: "$__rate_interval", with: "1m")
            .replacingOccurrences(of: "$__range", with: "5m")
            .replacingOccurrences(of: "$instance", with: ".*")
    }

    @Test("metric names in queries are found outside quoted label values")
    func metricNameExtraction() {
        let names = Self.metricNames(
            in: #"sum by (reason) (rate(pylon_a_total{reason!~"pylon_not_a_metric|x"}[1m])) / pylon_b_seconds_bucket"#)
        #expect(names == ["pylon_a_total", "pylon_b_seconds_bucket"])
    }
}
