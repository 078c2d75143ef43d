/// RelayPool: one shared set of relay connections for the provider, the buyer, the wallet and the
/// agents. Owns WebSocket connections (swift-nio's WebSocket codec), relay state, subscriptions that survive
/// reconnects, publishing with per-relay OK, NIP-11 limits and NIP-42 authentication. Imports
/// NostrCore; knows nothing about jobs.
import Foundation
public import PylonBasics

/// A normalized relay address (`ws://` or `wss://`, lowercase scheme and host, no trailing slash on
/// an empty path), so the same relay written two ways is one connection.
public struct RelayURL: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let string: String

    public init(_ text: String) throws(RelayPoolError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // A host name in Unicode would need ICU's data to be encoded, in a build that has it.
        let authority = trimmed.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.unicodeScalars.contains(where: { !$0.isASCII }) {
            throw RelayPoolError(.invalidURL, Self.problem(with: text))
        }
        // `encodedHost`, not `host`: `host` decodes an internationalized name through ICU's data,
        // which the release binary does not carry (Sources/EmptyICUData), and answers nil there.
        guard var components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
            scheme == "ws" || scheme == "wss", let host = components.encodedHost, !host.isEmpty
        else {
            throw RelayPoolError(.invalidURL, Self.problem(with: text))
        }
        components.scheme = scheme
        components.encodedHost = host.lowercased()
        if components.path == "/" { components.path = "" }
        components.fragment = nil
        guard let normalized = components.string else {
            throw RelayPoolError(.invalidURL, "\"\(text.prefix(200))\" is not a relay URL")
        }
        string = normalized
    }

    private static func problem(with text: String) -> String {
        let shown = "\"\(text.prefix(200))\""
        if text.unicodeScalars.contains(where: { !$0.isASCII }) {
            // Only the host can be the reason: anywhere else, Foundation percent-encodes it.
            return "\(shown) is not a relay URL: write a host name with non-ASCII letters in its ASCII form (xn--...)"
        }
        return "\(shown) is not a relay URL (expected ws:// or wss://host)"
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

