/// RelayPool: one shared set of relay connections for the provider, the buyer, the wallet and the
/// agents. Owns WebSocket connections (swift-nio's WebSocket codec), relay state, subscriptions that survive
/// reconnects, publishing with per-relay OK, NIP-11 limits and NIP-42 authentication. Imports
/// NostrCore; knows nothing about jobs.
import Foundation

/// A normalized relay address (`ws://` or `wss://`, lowercase scheme and host, no trailing slash on
/// an empty path), so the same relay written two ways is one connection.
public struct RelayURL: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let string: String

    public init(_ text: String) throws(RelayPoolError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard var components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
            scheme == "ws" || scheme == "wss", let host = components.host, !host.isEmpty
        else {
            throw RelayPoolError(.invalidURL, "\"\(text.prefix(200))\" is not a relay URL (expected ws:// or wss://host)")
        }
        components.scheme = scheme
        components.host = host.lowercased()
        if components.path == "/" { components.path = "" }
        components.fragment = nil
        guard let normalized = components.string else {
            throw RelayPoolError(.invalidURL, "\"\(text.prefix(200))\" is not a relay URL")
        }
        string = normalized
    }

    public var description: String { string }
    public static func < (lhs: RelayURL, rhs: RelayURL) -> Bool { lhs.string < rhs.string }

    var components: URLComponents? { URLComponents(string: string) }

    /// The NIP-11 document lives at the same address over HTTP(S).
    var informationURL: String {
        guard var c = components else { return string }
        c.scheme = c.scheme == "wss" ? "https" : "http"
        if c.path.isEmpty { c.path = "/" }
        return c.string ?? string
    }
}

/// The RelayPool module's error: a stable ``Code`` and a message for people.
public struct RelayPoolError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let invalidURL = Code("invalid_url")
        public static let tooLarge = Code("too_large")
        public static let tooManyTags = Code("too_many_tags")
        public static let tooManySubscriptions = Code("too_many_subscriptions")
        public static let queueFull = Code("queue_full")
        public static let rejected = Code("rejected")
        public static let timedOut = Code("timed_out")
        public static let notConnected = Code("not_connected")
        public static let shutdown = Code("shutdown")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
