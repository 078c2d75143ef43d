import Metrics
import PylonAsync

/// The metrics of one backend, made once per backend (labels from fixed sets: the backend name and
/// the outcome, never a model or a job).
///
/// - `pylon_backend_up{backend}`: 1 ready, 0 unavailable
/// - `pylon_backend_requests_total{backend,outcome}`: outcome `ok` or a ``BackendError/Code``
/// - `pylon_backend_first_token_seconds{backend}`: time to first token
/// - `pylon_backend_tokens_total{backend}`: generated tokens
final class BackendMetrics: Sendable {
    static let outcomes = ["ok"] + BackendError.Code.allCases.map(\.rawValue)

    let up: Gauge
    let firstToken: Timer
    let tokens: Counter
    private let requests: [String: Counter]

    init(backend: String, factory: any MetricsFactory) {
        let label = [("backend", backend)]
        up = Gauge(label: "pylon_backend_up", dimensions: label, factory: factory)
        firstToken = Timer(
            label: "pylon_backend_first_token_seconds",
            dimensions: label,
            preferredDisplayUnit: .seconds,
            factory: factory
        )
        tokens = Counter(label: "pylon_backend_tokens_total", dimensions: label, factory: factory)
        var requests: [String: Counter] = [:]
        for outcome in Self.outcomes {
            requests[outcome] = Counter(
                label: "pylon_backend_requests_total",
                dimensions: [("backend", backend), ("outcome", outcome)],
                factory: factory
            )
        }
        self.requests = requests
    }

    func setUp(_ isUp: Bool) {
        up.record(isUp ? 1 : 0)
    }

    func succeeded(_ summary: InferenceSummary) {
        requests["ok"]?.increment()
        tokens.increment(by: summary.completionTokens)
        if let ttft = summary.timeToFirstToken {
            firstToken.recordNanoseconds(ttft.nanoseconds)
        }
    }

    func failed(_ code: BackendError.Code) {
        requests[code.rawValue]?.increment()
    }
}
