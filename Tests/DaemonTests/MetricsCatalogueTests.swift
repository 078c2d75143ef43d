import CoreMetrics
import Daemon
import Foundation
import Prometheus
import PylonTestSupport
import Testing

@Suite("metrics: help texts and histograms for /metrics")
struct MetricsCatalogueTests {
    /// Every metric name the sources make (`label: "pylon_…"`), read from the files.
    static func namesInSources() throws -> Set<String> {
        let sources = TestPaths.packageRoot.appending(path: "Sources")
        guard let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var names: Set<String> = []
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: #/label:\s*"(pylon_[a-z0-9_]+)"/#) { names.insert(String(match.output.1)) }
        }
        return names
    }

    @Test("every metric the sources make has a help text, and the catalogue lists no other")
    func catalogueMatchesSources() throws {
        let made = try Self.namesInSources()
        #expect(made.count >= 30, "the metric names found in Sources: \(made.sorted())")
        let listed = Set(MetricsCatalogue.help.keys)
        #expect(made.subtracting(listed).isEmpty, "metrics without a help text in MetricsCatalogue: \(made.subtracting(listed).sorted())")
        #expect(listed.subtracting(made).isEmpty, "help texts for metrics nothing makes: \(listed.subtracting(made).sorted())")
        for (name, help) in MetricsCatalogue.help {
            #expect(!help.isEmpty && !help.contains("\n"), "\(name)")
        }
    }

    @Test("the factory writes HELP and TYPE lines, timers as histograms in seconds, with long buckets for job duration")
    func factoryEmitsHelp() {
        // Given the daemon's factory on a fresh registry (not bootstrapped: a test must not own the global).
        let registry = PrometheusCollectorRegistry()
        let factory = PylonMetricsFactory(registry: registry)
        // When metrics are made through swift-metrics' API with it.
        Counter(label: "pylon_provider_requests_rejected_total", dimensions: [("reason", "busy")], factory: factory).increment(by: 2)
        Gauge(label: "pylon_relay_connected", dimensions: [("relay", "wss://a.example")], factory: factory).record(1)
        CoreMetrics.Timer(label: "pylon_provider_job_duration_seconds", factory: factory).recordMilliseconds(1500)
        CoreMetrics.Timer(label: "pylon_backend_first_token_seconds", dimensions: [("backend", "mock")], factory: factory).recordMilliseconds(20)
        Counter(label: "pylon_not_in_the_catalogue_total", factory: factory).increment()
        let text = registry.emitToString()

        // Then each family has its help text.
        #expect(text.contains("# HELP pylon_provider_requests_rejected_total Job requests rejected by admission, by reason.\n# TYPE pylon_provider_requests_rejected_total counter\n"))
        #expect(text.contains("pylon_provider_requests_rejected_total{reason=\"busy\"} 2\n"))
        #expect(text.contains("# HELP pylon_relay_connected 1 while the connection to the relay is open, else 0.\n# TYPE pylon_relay_connected gauge\n"))
        #expect(text.contains("# TYPE pylon_provider_job_duration_seconds histogram\n"))
        #expect(text.contains("pylon_provider_job_duration_seconds_bucket{le=\"1.0\"} 0\n"), "\(text)")
        #expect(text.contains("pylon_provider_job_duration_seconds_bucket{le=\"2.5\"} 1\n"))
        #expect(text.contains("pylon_provider_job_duration_seconds_bucket{le=\"300.0\"} 1\n"), "job durations reach 5 minutes")
        #expect(text.contains("pylon_provider_job_duration_seconds_sum 1.5\n"))
        #expect(!text.contains("pylon_backend_first_token_seconds_bucket{backend=\"mock\",le=\"300.0\"}"), "other timers keep the default buckets")
        #expect(text.contains("# HELP pylon_backend_first_token_seconds "))
        // A name missing from the catalogue gets no HELP line, which promtool reports.
        #expect(text.contains("# TYPE pylon_not_in_the_catalogue_total counter\n"))
        #expect(!text.contains("# HELP pylon_not_in_the_catalogue_total"))
    }
}
