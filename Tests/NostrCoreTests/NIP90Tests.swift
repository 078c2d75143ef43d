import NostrCore
import PropertyBased
import Testing

/// Random NIP-90 and NIP-89 values from a seed (the property check gives the seed and shows it
/// when a round trip fails, so the case can be replayed).
struct ValueSource {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func maybe<T>(_ make: (inout ValueSource) -> T) -> T? { bool() ? make(&self) : nil }

    /// Text that a tag or content may hold: quotes, backslashes, newlines, controls, non-ASCII,
    /// sometimes empty.
    mutating func text(_ lengths: ClosedRange<Int> = 0...24) -> String {
        let alphabet: [String] = ["a", "Z", "7", " ", "\"", "\\", "\n", "\t", "\u{01}", "é", "日", "🙂", "/", "{", "]", ","]
        return (0..<int(lengths)).map { _ in alphabet[int(0...(alphabet.count - 1))] }.joined()
    }

    mutating func hex32() -> String { (0..<4).map { _ in String(next(), radix: 16).leftPadded(16) }.joined() }
    mutating func eventID() -> EventID { (try? EventID(hex: hex32())) ?? EventID(.zero) }
    mutating func keypair() -> Keypair { Keypair.generate() }

    mutating func input() -> JobInput {
        let types: [JobInput.InputType] = [.text, .event, .job, .url, .other("image-\(int(0...9))")]
        let type = types[int(0...(types.count - 1))]
        let value = type == .event || type == .job ? hex32() : text()
        return JobInput(value: value, type: type, relay: maybe { $0.text(1...12) } ?? "", marker: maybe { $0.text(1...8) } ?? "")
    }

    mutating func unique(_ count: ClosedRange<Int>, _ make: (inout ValueSource) -> String) -> [String] {
        var values: [String] = []
        for _ in 0..<int(count) {
            let value = make(&self)
            if !value.isEmpty && !values.contains(value) { values.append(value) }
        }
        return values
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// An event as relays hand it over: its JSON text, parsed again.
private func overTheWire(_ event: Event) throws -> Event { try Event(json: event.jsonString) }

@Suite("NIP-90 and NIP-89 values: what is written reads back the same, field by field")
struct NIP90RoundTripTests {
    @Test("job requests, plain and encrypted with either scheme")
    func requests() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var source = ValueSource(seed: seed)
            let customer = source.keypair()
            let providers = (0..<source.int(0...2)).map { _ in source.keypair() }
            var fields = JobRequest.Fields(
                kind: Kind(UInt16(source.int(5000...5999))), inputs: (0..<source.int(0...4)).map { _ in source.input() },
                params: (0..<source.int(0...4)).map { _ in
                    JobParam(source.text(1...10), (0..<source.int(1...3)).map { _ in source.text() })
                },
                bidMsats: source.maybe { Int64($0.int(0...1_000_000_000)) }, relays: source.unique(0...3) { $0.text(1...20) },
                providers: providers.map(\.publicKey), output: source.maybe { $0.text(1...12) },
                expiration: source.maybe { Int64($0.int(1_700_000_000...1_900_000_000)) })
            if providers.count == 1 && source.bool() { fields.encryption = source.bool() ? .nip04 : .nip44 }
            let made = try JobRequest.make(fields, author: customer, createdAt: 1_750_000_000)
            var read = JobRequest(event: try overTheWire(made.event))
            #expect(read.isEncrypted == (fields.encryption != nil))
            if let provider = providers.first, read.isEncrypted {
                #expect(read.inputs.isEmpty && read.params.isEmpty, "inputs and params travel encrypted")
                try read.decrypt(with: provider.secretKey)
            }
            #expect(read.fields == fields, "seed \(seed)")
            #expect(read.customer == customer.publicKey && read.id == made.id)
        }
    }

    @Test("feedback, with amounts and encrypted partial output")
    func feedback() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var source = ValueSource(seed: seed)
            let provider = source.keypair()
            let customer = source.keypair()
            let statuses = FeedbackStatus.allCases
            let feedback = JobFeedback(
                status: statuses[source.int(0...(statuses.count - 1))], extra: source.maybe { $0.text() }, content: source.text(),
                amount: source.maybe { JobAmount(msats: Int64($0.int(0...10_000_000)), bolt11: $0.maybe { $0.text(1...30) }) },
                request: source.eventID(), customer: customer.publicKey, encryption: source.maybe { $0.bool() ? .nip04 : .nip44 })
            let event = try overTheWire(feedback.unsignedEvent(author: provider, createdAt: 1_750_000_000).sign(with: provider))
            let read = try JobFeedback(event: event, secretKey: customer.secretKey)
            var expected = feedback
            // Without content the scheme shows nowhere: it reads back as NIP-44.
            if expected.encryption != nil && expected.content.isEmpty { expected.encryption = .nip44 }
            #expect(read == expected, "seed \(seed)")
            if feedback.encryption != nil && !feedback.content.isEmpty {
                #expect(event.content != feedback.content, "the content travels encrypted")
            }
        }
    }

    @Test("results, with echoed inputs, amounts and encrypted output")
    func results() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var source = ValueSource(seed: seed)
            let provider = source.keypair()
            let customer = source.keypair()
            let encryption: EncryptionScheme? = source.maybe { $0.bool() ? .nip04 : .nip44 }
            let result = JobResult(
                kind: Kind(UInt16(source.int(6000...6999))), content: encryption == nil ? source.text() : source.text(1...40),
                request: source.eventID(), requestJSON: source.maybe { $0.text(1...60) },
                customer: encryption == nil ? source.maybe { _ in customer.publicKey } : customer.publicKey,
                inputs: (0..<source.int(0...3)).map { _ in source.input() },
                amount: source.maybe { JobAmount(msats: Int64($0.int(0...10_000_000)), bolt11: $0.maybe { $0.text(1...30) }) },
                encryption: encryption)
            let event = try overTheWire(result.unsignedEvent(author: provider, createdAt: 1_750_000_000).sign(with: provider))
            #expect(try JobResult(event: event, secretKey: customer.secretKey) == result, "seed \(seed)")
        }
    }

    @Test("handler information and heartbeats")
    func announcements() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var source = ValueSource(seed: seed)
            let provider = source.keypair()
            let kinds = (0..<source.int(1...3)).map { _ in Kind(UInt16(source.int(5000...5999))) }
            let information = HandlerInformation(
                identifier: source.text(1...16), kinds: kinds, name: source.text(), about: source.text(), supportsEncryption: source.bool(),
                params: source.unique(0...5) { $0.text(1...12) }.map { name in
                    HandlerInformation.Param(
                        name, description: source.text(), values: (0..<source.int(0...3)).map { _ in source.text() }, required: source.bool())
                },
                amountMsats: source.maybe { Int64($0.int(1...1_000_000)) })
            let announced = try overTheWire(information.unsignedEvent(author: provider.publicKey, createdAt: 1_750_000_000).sign(with: provider))
            #expect(try HandlerInformation(event: announced) == information, "seed \(seed)")

            let statuses: [ProviderHeartbeat.Status] = [.ready, .busy, .unavailable]
            let beat = ProviderHeartbeat(
                identifier: source.text(1...16), kinds: kinds, status: statuses[source.int(0...2)], queued: source.int(0...100),
                running: source.int(0...16), slots: source.int(0...16), models: (0..<source.int(0...3)).map { _ in source.text(1...12) },
                expiration: source.maybe { Int64($0.int(1_700_000_000...1_900_000_000)) })
            let sent = try overTheWire(beat.unsignedEvent(author: provider.publicKey, createdAt: 1_750_000_000).sign(with: provider))
            #expect(try ProviderHeartbeat(event: sent) == beat, "seed \(seed)")
        }
    }

    @Test("what other software sends: a missing input type is text, prompt is text, other kinds and statuses are refused")
    func readingOthers() throws {
        let customer = Keypair.generate()
        let request = UnsignedEvent(
            pubkey: customer.publicKey, createdAt: 1, kind: 5050,
            tags: [["i", "bare"], ["i", "registry", "prompt"], ["param", "model"], ["bid", "-5"], ["relays", "wss://a", "", "wss://a"]], content: ""
        ).sign(with: customer)
        let read = JobRequest(event: request)
        #expect(read.inputs == [JobInput(value: "bare"), JobInput(value: "registry")])
        #expect(read.params.isEmpty, "a param without a value is no param")
        #expect(read.bidMsats == nil, "a negative bid is no bid")
        #expect(read.relays == ["wss://a"])
        let unknown = UnsignedEvent(
            pubkey: customer.publicKey, createdAt: 1, kind: .jobFeedback, tags: [["status", "pong"], ["e", String(repeating: "0", count: 64)], ["p", customer.publicKey.hex]],
            content: ""
        ).sign(with: customer)
        #expect(throws: NostrError.self) { try JobFeedback(event: unknown) }
        #expect(throws: NostrError.self) { try JobResult(event: request) }
        #expect(throws: NostrError.self) { try JobRequest.make(.init(kind: 1, inputs: []), author: customer, createdAt: 1) }
        #expect(throws: NostrError.self) {
            try JobRequest.make(.init(inputs: [JobInput(value: "x")], encryption: .nip44), author: customer, createdAt: 1)
        }
    }
}
