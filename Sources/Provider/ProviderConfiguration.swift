// The Provider module: pylon's NIP-90 Data Vending Machine (SPEC §7, §8).
//
// It takes job requests from the relay pool, admits or rejects them in the SPEC's order, queues
// them in the scheduler, runs them on the backend registry, and answers with feedback and results.
// State goes through the store (every transition journaled with it); the wire through the pool.
// It knows nothing of TOML: the daemon maps `[provider]` onto ``ProviderConfiguration``.

public import NostrCore

/// What the provider sells and how much work it takes on (`[provider]`, SPEC §4).
public struct ProviderConfiguration: Sendable, Equatable {
    /// Job request kinds served (5000-5999); each result is the request kind + 1000.
    public var kinds: [Kind]
    /// Price per job in millisatoshis; 0 is free.
    public var priceMsats: Int64
    /// Jobs running at once.
    public var slots: Int
    /// Jobs waiting for a slot; more are refused as "busy".
    public var maxQueue: Int
    /// How long a job may run, from its start.
    public var jobTimeout: Duration
    /// The most input bytes (all inputs together, after decryption and fetching).
    public var maxInputBytes: Int
    /// Requests older than this are ignored.
    public var maxRequestAge: Int64
    /// Requests further in the future than this are ignored.
    public var maxFutureSkew: Int64 = 300
    /// Requests one customer may make per minute; 0 is no limit.
    public var rateLimitPerMinute: Int
    /// Whether `url` inputs are fetched.
    public var allowURLInputs: Bool
    /// Publish NIP-89 handler information and the heartbeat.
    public var announce: Bool
    public var name: String
    public var about: String
    /// How often streamed output goes out as `partial` feedback, at most.
    public var partialInterval: Duration = .seconds(1)
    /// How long an `event` input may take to fetch.
    public var inputFetchTimeout: Duration = .seconds(5)
    /// How often the handler information is published again.
    public var announceInterval: Duration = .seconds(6 * 3600)
    /// How often the heartbeat goes out; each one expires after two intervals.
    public var heartbeatInterval: Duration = .seconds(300)
    /// The largest result or feedback event, serialized, that relays are asked to take. strfry's
    /// limit is 64 KiB of JSON; the rest of the message and a margin fit under it.
    public var maxEventBytes = 60 * 1024
    /// The longest value of a single-letter tag (strfry refuses longer `i` echoes).
    public var maxTagValueBytes = 1024
    /// How long a priced job's invoice may stay unpaid (`[wallet].invoice_expiry_secs`).
    public var invoiceExpirySecs: Int64 = 600
    /// The first wait before asking the wallet whether an invoice was paid; it doubles up to
    /// ``paymentCheckMaxInterval``. Notifications, when the wallet sends them, come sooner.
    public var paymentCheckInterval: Duration = .seconds(1)
    public var paymentCheckMaxInterval: Duration = .seconds(15)

    public init(
        kinds: [Kind] = [5050], priceMsats: Int64 = 0, slots: Int = 2, maxQueue: Int = 64, jobTimeout: Duration = .seconds(120),
        maxInputBytes: Int = 16384, maxRequestAge: Int64 = 600, rateLimitPerMinute: Int = 30, allowURLInputs: Bool = false,
        announce: Bool = true, name: String = "pylon", about: String = ""
    ) {
        self.kinds = kinds
        self.priceMsats = priceMsats
        self.slots = slots
        self.maxQueue = maxQueue
        self.jobTimeout = jobTimeout
        self.maxInputBytes = maxInputBytes
        self.maxRequestAge = maxRequestAge
        self.rateLimitPerMinute = rateLimitPerMinute
        self.allowURLInputs = allowURLInputs
        self.announce = announce
        self.name = name
        self.about = about
    }

    /// Whether a change from `old` to this one changes what the NIP-89 announcement says.
    func changesAnnouncement(from old: ProviderConfiguration) -> Bool {
        kinds != old.kinds || name != old.name || about != old.about || priceMsats != old.priceMsats || announce != old.announce
    }
}
