import CoreMetrics

/// The pool's metrics (STYLE §6): labels from small fixed sets; the relay label is a configured
/// relay's URL, or "other" for relays named only by a request.
struct RelayMetrics: Sendable {
    let connected: Gauge
    let reconnects: Counter
    let received: Counter
    let notices: Counter
    let publishAccepted: Counter
    let publishFailed: Counter
    let publishRateLimited: Counter
    let queueOverflow: Counter

    /// The relay label of every relay named only by a request.
    static let sharedLabel = "other"

    init(relayLabel: String) {
        let dims = [("relay", relayLabel)]
        connected = Gauge(label: "pylon_relay_connected", dimensions: dims)
        reconnects = Counter(label: "pylon_relay_reconnects_total", dimensions: dims)
        received = Counter(label: "pylon_relay_events_received_total", dimensions: dims)
        notices = Counter(label: "pylon_relay_notices_total", dimensions: dims)
        publishAccepted = Counter(label: "pylon_relay_publishes_total", dimensions: dims + [("outcome", "accepted")])
        publishFailed = Counter(label: "pylon_relay_publishes_total", dimensions: dims + [("outcome", "failed")])
        publishRateLimited = Counter(label: "pylon_relay_publishes_total", dimensions: dims + [("outcome", "rate_limited")])
        queueOverflow = Counter(label: "pylon_relay_queue_overflow_total", dimensions: dims)
    }

    /// Takes this relay's series off `/metrics`, for a relay removed from the configuration: a
    /// `pylon_relay_connected` left at 0 would look like a relay down to an alert rule.
    func retire() {
        connected.destroy()
        for counter in [reconnects, received, notices, publishAccepted, publishFailed, publishRateLimited, queueOverflow] {
            counter.destroy()
        }
    }

    /// The inbound rejections by reason, made when a pool is, so that every reason is on
    /// `/metrics` (at 0) before the first rejection, as a dashboard's queries expect.
    static func rejectedCounters() -> [InboundRejection: Counter] {
        Dictionary(
            uniqueKeysWithValues: InboundRejection.allCases.map { ($0, Counter(label: "pylon_relay_events_rejected_total", dimensions: [("reason", $0.rawValue)])) })
    }
}

/// Why an inbound event or message was dropped.
public enum InboundRejection: String, CaseIterable, Sendable {
    case invalidID = "invalid_id"
    case invalidSignature = "invalid_signature"
    case duplicate
    case filterMismatch = "filter_mismatch"
    case unknownSubscription = "unknown_subscription"
    case unparseable
}

/// Counts since the pool started, for `status` and tests (the same figures go to metrics).
public struct RelayPoolStatistics: Sendable, Hashable {
    public var delivered = 0
    public var rejected: [InboundRejection: Int] = [:]
}
