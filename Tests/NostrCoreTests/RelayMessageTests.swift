import NostrCore
import PylonBasics
import Testing

@Suite("Relay messages")
struct RelayMessageTests {
    let keypair = Keypair.generate()

    func event(kind: Kind = 1, tags: [NostrCore.Tag] = [], createdAt: Int64 = 1000) -> Event {
        UnsignedEvent(pubkey: keypair.publicKey, createdAt: createdAt, kind: kind, tags: tags, content: "x").sign(with: keypair)
    }

    @Test("every relay message parses to its typed value and back")
    func relayRoundTrip() throws {
        let e = event()
        let messages: [RelayMessage] = [
            .event("sub", e), .ok(e.id, accepted: true, message: ""), .ok(e.id, accepted: false, message: "rate-limited: slow down"),
            .eose("sub"), .closed("sub", message: "auth-required: please"), .notice("hello"), .auth(challenge: "abc"),
            .count("sub", 42),
        ]
        for message in messages {
            #expect(try RelayMessage(json: message.jsonString) == message)
        }
        #expect(try RelayMessage(json: "[\"OK\",\"\(e.id.hex)\",true]") == .ok(e.id, accepted: true, message: ""))
        #expect(try RelayMessage(json: "[\"CLOSED\",\"s\"]") == .closed("s", message: ""))
    }

    @Test("every client message serializes and parses back")
    func clientRoundTrip() throws {
        let e = event()
        let filter = Filter(kinds: [5050, 5001], tags: ["p": [keypair.publicKey.hex]], since: 10, limit: 5)
        let messages: [ClientMessage] = [.event(e), .req("s1", [filter, Filter(ids: [e.id])]), .close("s1"), .auth(e), .count("c", [filter])]
        for message in messages {
            #expect(try ClientMessage(json: message.jsonString) == message)
        }
        #expect(ClientMessage.close("x").jsonString == #"["CLOSE","x"]"#)
        #expect(
            ClientMessage.req("s", [Filter(kinds: [1], since: 5)]).jsonString == #"["REQ","s",{"kinds":[1],"since":5}]"#)
    }

    @Test(
        "malformed relay messages are errors",
        arguments: [
            "", "{}", "[]", "[1]", "[\"EVENT\"]", "[\"EVENT\",\"s\"]", "[\"EVENT\",\"s\",{}]", "[\"OK\",\"zz\",true,\"\"]",
            "[\"OK\",\"\(String(repeating: "a", count: 64))\",\"yes\",\"\"]", "[\"EOSE\"]", "[\"EOSE\",\"\"]", "[\"EOSE\",5]",
            "[\"NOTICE\"]", "[\"NOTICE\",1]", "[\"AUTH\",{}]", "[\"CLOSED\",\"s\",5]", "[\"COUNT\",\"s\",{\"count\":-1}]",
            "[\"WHAT\",1]", "[\"EVENT\",\"s\",[]]",
        ])
    func malformed(text: String) {
        #expect(throws: NostrError.self) { try RelayMessage(json: text) }
    }

    @Test("reason prefixes")
    func reasons() {
        #expect(RelayReason(message: "rate-limited: slow down") == .rateLimited)
        #expect(RelayReason(message: "auth-required: x") == .authRequired)
        #expect(RelayReason(message: "duplicate: have it") == .duplicate)
        #expect(RelayReason(message: "") == .unknown)
        #expect(RelayReason(message: "whatever: x") == .unknown)
    }
}

@Suite("NIP-01 filters")
struct FilterTests {
    let alice = Keypair.generate()
    let bob = Keypair.generate()

    func event(_ keypair: Keypair, kind: Kind = 1, tags: [NostrCore.Tag] = [], createdAt: Int64 = 1000) -> Event {
        UnsignedEvent(pubkey: keypair.publicKey, createdAt: createdAt, kind: kind, tags: tags).sign(with: keypair)
    }

    @Test("each field narrows the match")
    func fields() {
        let e = event(alice, kind: 5050, tags: [["p", bob.publicKey.hex], ["e", "abc"], ["t", "x", "y"]], createdAt: 1000)
        #expect(Filter().matches(e))
        #expect(Filter(ids: [e.id]).matches(e))
        #expect(!Filter(ids: []).matches(e))
        #expect(Filter(authors: [alice.publicKey, bob.publicKey]).matches(e))
        #expect(!Filter(authors: [bob.publicKey]).matches(e))
        #expect(Filter(kinds: [5050]).matches(e))
        #expect(!Filter(kinds: [5051]).matches(e))
        #expect(Filter(tags: ["p": [bob.publicKey.hex]]).matches(e))
        #expect(!Filter(tags: ["p": [alice.publicKey.hex]]).matches(e))
        #expect(Filter(tags: ["t": ["x"]]).matches(e))
        // Only the first value of a tag is indexed.
        #expect(!Filter(tags: ["t": ["y"]]).matches(e))
        #expect(!Filter(tags: ["q": ["x"]]).matches(e))
        // since <= created_at <= until, both inclusive
        #expect(Filter(since: 1000, until: 1000).matches(e))
        #expect(!Filter(since: 1001).matches(e))
        #expect(!Filter(until: 999).matches(e))
        // Conditions are ANDed
        #expect(!Filter(authors: [alice.publicKey], kinds: [1]).matches(e))
        // Filters of a REQ are ORed
        #expect(Filter.anyMatches([Filter(kinds: [1]), Filter(kinds: [5050])], e))
    }

    @Test("filter JSON parses; prefixes and bad types are rejected")
    func parsing() throws {
        let text = ##"{"kinds":[1,5050],"authors":["\##(alice.publicKey.hex)"],"#p":["x"],"since":5,"until":9,"limit":3,"search":"ignored"}"##
        let filter = try Filter(json: JSON.parse(text))
        #expect(filter.kinds == [1, 5050])
        #expect(filter.authors == [alice.publicKey])
        #expect(filter.tags["p"] == ["x"])
        #expect(filter.since == 5 && filter.until == 9 && filter.limit == 3)
        for bad in [#"{"ids":["abcd"]}"#, #"{"kinds":["1"]}"#, #"{"since":-1}"#, #"{"kinds":[70000]}"#, "[]"] {
            #expect(throws: NostrError.self) { try Filter(json: JSON.parse(bad)) }
        }
    }
}
