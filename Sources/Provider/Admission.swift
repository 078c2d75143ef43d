public import NostrCore
public import PylonBasics

/// Why a request was not admitted (SPEC §8). The raw value is the metric label and the
/// journal's `reason`.
public enum RejectionReason: String, PylonErrorCode, CaseIterable {
    /// A `p` tag names other providers and not us. Counted, not journaled: not our request.
    case otherProvider = "other_provider"
    /// `created_at` older than `max_request_age_secs`.
    case stale
    /// `created_at` more than 300 s ahead.
    case future
    /// Seen before, in this run or an earlier one. Counted, not journaled again.
    case duplicate
    /// Past its NIP-40 expiration.
    case expired
    /// More input than `max_input_bytes`.
    case inputTooLarge = "input_too_large"
    /// The customer sent more than `rate_limit_per_minute`.
    case rateLimited = "rate_limited"
    /// Every slot busy and the queue full.
    case busy
    /// The bid is below the price.
    case bidTooLow = "bid_too_low"
    /// Marked encrypted but does not decrypt with our key.
    case undecryptable
    /// No input, an unknown input type, a malformed param.
    case invalidRequest = "invalid_request"
    /// A `url` input while `allow_url_inputs` is off.
    case unsupportedInput = "unsupported_input"
    /// A kind this node does not serve (after a reload changed the kinds).
    case unservedKind = "unserved_kind"

    /// Whether the customer hears about it in `error` feedback. Requests that are not ours, or
    /// that we already answered, or that are too old to matter, get silence.
    public var sendsFeedback: Bool {
        switch self {
        case .otherProvider, .duplicate, .stale, .future, .expired, .unservedKind: false
        default: true
        }
    }

    /// Whether the rejection is journaled (and the id remembered). A duplicate is already
    /// journaled; a request for another provider is not a decision about our work.
    public var isJournaled: Bool { self != .otherProvider && self != .duplicate }
}

/// A rejection with the message the customer reads.
public struct Rejection: Error, Sendable, Equatable {
    public let reason: RejectionReason
    public let message: String
    /// Counted only: neither answered nor journaled (a customer's further requests in a window it
    /// has already been told about).
    public let quiet: Bool

    public init(_ reason: RejectionReason, _ message: String, quiet: Bool = false) {
        self.reason = reason
        self.message = message
        self.quiet = quiet
    }
}

/// The checks of SPEC §8 that need only the event and the clock, in the SPEC's order (the
/// signature was checked by the relay pool, the duplicate check needs the store, and the rate
/// limit and queue checks come last, in the provider).
public struct AdmissionPolicy: Sendable {
    public var configuration: ProviderConfiguration
    public let provider: PublicKey

    public init(configuration: ProviderConfiguration, provider: PublicKey) {
        self.configuration = configuration
        self.provider = provider
    }

    /// Addressing and time: another provider's request, a stale or future one.
    public func checkAddressAndTime(_ request: JobRequest, now: Int64) throws(Rejection) {
        guard configuration.kinds.contains(request.event.kind) else {
            throw Rejection(.unservedKind, "kind \(request.event.kind) is not served here")
        }
        if request.isAddressed(elsewhere: provider) {
            throw Rejection(.otherProvider, "the request is addressed to another provider")
        }
        let createdAt = request.event.createdAt
        if createdAt < now - configuration.maxRequestAge {
            throw Rejection(.stale, "the request is \(now - createdAt) s old; this provider serves requests up to \(configuration.maxRequestAge) s old")
        }
        if createdAt > now + configuration.maxFutureSkew {
            throw Rejection(.future, "the request is dated \(createdAt - now) s in the future")
        }
    }

    /// Expiration, decryption, shape, size and bid.
    public func checkContent(_ request: inout JobRequest, secretKey: SecretKey, now: Int64) throws(Rejection) {
        if request.event.isExpired(now: now) {
            throw Rejection(.expired, "the request expired (NIP-40)")
        }
        if request.isEncrypted {
            guard request.providers.contains(provider) else {
                // Encrypted to somebody: without our key in `p` it cannot be for us.
                throw Rejection(.otherProvider, "an encrypted request not addressed to this provider")
            }
            do {
                try request.decrypt(with: secretKey)
            } catch {
                // A ciphertext that does not open, or a plaintext that is not an array of tags.
                let opened = error.code == .invalidJSON || error.code == .invalidField
                throw Rejection(
                    .undecryptable,
                    opened
                        ? error.message
                        : "the request is marked encrypted but does not decrypt with this provider's key (\(request.encryption?.rawValue ?? "nip44")): \(error.message)")
            }
        }
        do {
            try request.validate(allowURLInputs: configuration.allowURLInputs)
        } catch {
            throw Rejection(error.code, error.message)
        }
        let size = request.inputs.reduce(0) { $0 + $1.value.utf8.count }
        if size > configuration.maxInputBytes {
            throw Rejection(.inputTooLarge, "the input is \(size) bytes; this provider takes at most \(configuration.maxInputBytes)")
        }
        if configuration.priceMsats > 0, let bid = request.bidMsats, bid < configuration.priceMsats {
            throw Rejection(.bidTooLow, "the bid of \(bid) msats is below the price of \(configuration.priceMsats) msats")
        }
    }
}
