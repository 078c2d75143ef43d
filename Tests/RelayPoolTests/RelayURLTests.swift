import PylonBasics
import RelayPool
import Testing

/// A relay's address, normalised so that one relay written two ways is one connection. The host is
/// read in its encoded form, which needs no ICU data (the release binary carries none).
@Suite("Relay URL: normalised, and refused with a reason")
struct RelayURLTests {
    @Test("scheme and host are lowercased, an empty path loses its slash, a fragment is dropped")
    func normalises() throws {
        #expect(try RelayURL("WSS://Relay.Example.COM/").string == "wss://relay.example.com")
        #expect(try RelayURL("  ws://127.0.0.1:7447  ").string == "ws://127.0.0.1:7447")
        #expect(try RelayURL("wss://relay.example.com/nostr#top").string == "wss://relay.example.com/nostr")
        #expect(try RelayURL("wss://relay.example.com/") == RelayURL("wss://RELAY.example.com"))
        #expect(try RelayURL("ws://[::1]:8080").string == "ws://[::1]:8080")
        #expect(try RelayURL("wss://xn--bcher-kva.example").string == "wss://xn--bcher-kva.example")
    }

    @Test("anything but ws:// or wss:// with a host is refused", arguments: [
        "https://relay.example.com", "relay.example.com", "wss://", "ws:///path", "", "wss://exa mple.com",
    ])
    func refuses(_ text: String) {
        #expect(throws: RelayPoolError.self) { try RelayURL(text) }
    }

    @Test("a host name in Unicode is refused with the way to write it")
    func unicodeHost() {
        do {
            _ = try RelayURL("wss://bücher.example")
            Issue.record("a Unicode host name was accepted")
        } catch {
            #expect(error.code == .invalidURL)
            #expect(error.message.contains("xn--"))
        }
    }
}
