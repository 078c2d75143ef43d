import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NostrCore
import PylonAsync
public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The limits a relay publishes in its NIP-11 information document that change what we send.
public struct RelayLimits: Sendable, Hashable {
    /// Longest websocket message the relay accepts, in bytes.
    public var maxMessageLength: Int?
    /// Most open subscriptions per connection.
    public var maxSubscriptions: Int?
    /// Most tags on one event.
    public var maxEventTags: Int?
    /// Longest event content, in characters.
    public var maxContentLength: Int?
    /// The relay wants NIP-42 authentication before anything else.
    public var authRequired: Bool

    public init(maxMessageLength: Int? = nil, maxSubscriptions: Int? = nil, maxEventTags: Int? = nil, maxContentLength: Int? = nil, authRequired: Bool = false) {
        self.maxMessageLength = maxMessageLength
        self.maxSubscriptions = maxSubscriptions
        self.maxEventTags = maxEventTags
        self.maxContentLength = maxContentLength
        self.authRequired = authRequired
    }

    public static let none = RelayLimits()

    /// Reads `limitation` from a NIP-11 document; missing or ill-typed fields mean "no limit".
    public init(document: JSON) {
        let limitation = document["limitation"]
        func positive(_ key: String) -> Int? {
            guard case .integer(let value)? = limitation?[key], value > 0 else { return nil }
            return Int(clamping: value)
        }
        self.init(
            maxMessageLength: positive("max_message_length"), maxSubscriptions: positive("max_subscriptions"),
            maxEventTags: positive("max_event_tags"), maxContentLength: positive("max_content_length"),
            authRequired: limitation?["auth_required"]?.boolValue ?? false)
    }

    /// Why `event` cannot go to this relay, or nil when it fits. Checked before sending, so an
    /// oversized message becomes an error here instead of a dropped connection there.
    func violation(for event: Event, messageBytes: Int) -> RelayPoolError? {
        if let max = maxMessageLength, messageBytes > max {
            return RelayPoolError(.tooLarge, "message of \(messageBytes) bytes exceeds the relay's max_message_length of \(max)")
        }
        if let max = maxEventTags, event.tags.count > max {
            return RelayPoolError(.tooManyTags, "event has \(event.tags.count) tags; the relay allows \(max)")
        }
        if let max = maxContentLength, event.content.count > max {
            return RelayPoolError(.tooLarge, "content of \(event.content.count) characters exceeds the relay's max_content_length of \(max)")
        }
        return nil
    }
}

/// Fetches NIP-11 documents (`Accept: application/nostr+json` over HTTP(S) at the relay's address).
enum RelayInformation {
    /// One client for every NIP-11 fetch: no redirects, and no retrying of a refused connection
    /// (a relay that is down must not hold up reconnecting or shutting down).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(3)))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.tracing.tracer = nil  // pylon traces nothing; a no-op span still costs per request
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    static func fetch(_ relay: RelayURL, timeout: Duration) async -> RelayLimits? {
        var request = HTTPClientRequest(url: relay.informationURL)
        request.headers.add(name: "Accept", value: "application/nostr+json")
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 256 * 1024)
            let document = try JSON.parse(bytes: body.readableBytesView)
            return RelayLimits(document: document)
        } catch {
            return nil
        }
    }
}
