import Foundation
import NostrCore
import PropertyBased
import PylonBasics
import Testing

/// Thousands of mutated relay messages and events: each must parse to a value or throw a
/// `NostrError`. A crash (trap, overflow, out-of-bounds) fails the whole test process.
@Suite("Robustness against hostile input")
struct RobustnessTests {
    static let keypair = Keypair.generate()

    /// Valid messages of every type, as the mutation corpus.
    static let corpus: [[UInt8]] = {
        let event = UnsignedEvent(
            pubkey: keypair.publicKey, createdAt: 1_700_000_000, kind: 5050,
            tags: [["i", "what is 2+2?", "text"], ["param", "max_tokens", "64"], ["p", keypair.publicKey.hex]],
            content: "quote \" slash / é 🎉 \\n"
        ).sign(with: keypair)
        let messages: [RelayMessage] = [
            .event("sub-1", event), .ok(event.id, accepted: false, message: "rate-limited: slow down"), .eose("sub-1"),
            .closed("sub-1", message: "auth-required: hi"), .notice("note"), .auth(challenge: "c-123"), .count("c", 7),
        ]
        return messages.map { Array($0.jsonString.utf8) } + [Array(event.jsonString.utf8)]
    }()

    /// Fragments that trip parsers: huge numbers, wrong types, bad hex, bad UTF-8, deep nesting.
    static let poison: [[UInt8]] = [
        Array("99999999999999999999999999999".utf8), Array("-1".utf8), Array("1e308".utf8), Array("1e309".utf8),
        Array("null".utf8), Array("{}".utf8), Array("[]".utf8), Array("\"\"".utf8), Array("true".utf8),
        Array("\"ZZ\"".utf8), Array("\"\\ud800\"".utf8), Array("\"\\u0000\"".utf8), [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0x00], Array(String(repeating: "[", count: 500).utf8),
        Array(String(repeating: "f", count: 129).utf8), Array("\"\(String(repeating: "a", count: 64))\"".utf8),
    ]

    /// One mutation chosen by `operation`, applied at a position derived from `position`.
    static func mutate(_ input: [UInt8], operation: Int, position: Int, noise: [UInt8]) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return noise }
        let at = position % bytes.count
        switch operation {
        case 0: return Array(bytes[..<at])  // truncate
        case 1: bytes[at] ^= noise.first ?? 0x55  // flip bits
        case 2: bytes.insert(contentsOf: noise, at: at)  // insert random bytes
        case 3: bytes.removeSubrange(at..<min(bytes.count, at + max(1, noise.count)))  // delete a run
        case 4:  // replace a run with a poison fragment
            let fragment = poison[position % poison.count]
            bytes.replaceSubrange(at..<min(bytes.count, at + max(1, noise.count)), with: fragment)
        case 5:  // swap two bytes
            let other = (position / 7) % bytes.count
            bytes.swapAt(at, other)
        case 6:  // duplicate a slice
            let end = min(bytes.count, at + 1 + noise.count * 8)
            bytes.insert(contentsOf: bytes[at..<end], at: at)
        default:  // replace a digit run with a huge number
            if let digit = bytes[at...].firstIndex(where: { (0x30...0x39).contains($0) }) {
                bytes.insert(contentsOf: Array("9999999999999999999999".utf8), at: digit)
            } else {
                bytes.append(contentsOf: noise)
            }
        }
        return bytes
    }

    @Test("mutated relay messages give a value or an error, never a crash")
    func relayMessages() async {
        let corpus = Self.corpus
        await propertyCheck(
            count: 6000, input: Gen.int(in: 0...(corpus.count - 1)), Gen.int(in: 0...7), Gen.int(in: 0...Int(Int32.max)),
            Gen<UInt8>.value().array(of: 0...12)
        ) { index, operation, position, noise in
            let mutated = Self.mutate(corpus[index], operation: operation, position: position, noise: noise)
            do {
                let message = try RelayMessage(jsonBytes: mutated)
                // Whatever parsed must serialize and parse back to the same value.
                #expect(try RelayMessage(json: message.jsonString) == message)
            } catch {
                #expect(error is NostrError)
            }
        }
    }

    @Test("mutated events give a value or an error; parsed mutants rarely verify")
    func events() async {
        let eventBytes = Self.corpus[Self.corpus.count - 1]
        let original = try? Event(json: String(decoding: eventBytes, as: UTF8.self))
        await propertyCheck(
            count: 6000, input: Gen.int(in: 0...7), Gen.int(in: 0...Int(Int32.max)), Gen<UInt8>.value().array(of: 0...12)
        ) { operation, position, noise in
            let mutated = Self.mutate(eventBytes, operation: operation, position: position, noise: noise)
            do {
                let event = try Event(json: JSON.parse(bytes: mutated))
                // A changed event must not verify unless its signed fields are unchanged.
                if event.hasValidID && event.hasValidSignature, let original {
                    #expect(event.unsigned == original.unsigned)
                }
            } catch {
                #expect(error is NostrError || error is JSONError)
            }
        }
    }

    @Test("random byte strings never crash the parsers")
    func randomBytes() async {
        await propertyCheck(count: 4000, input: Gen<UInt8>.value().array(of: 0...200)) { bytes in
            #expect(throws: (any Error).self) { try RelayMessage(jsonBytes: bytes) }
            _ = try? JSON.parse(bytes: bytes)
            _ = try? NIP19(String(decoding: bytes, as: UTF8.self))
            _ = try? Filter(json: JSON.parse(bytes: bytes))
        }
    }

    @Test("random printable strings through NIP-19 and hex decoders")
    func randomText() async {
        let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l1npubnsecnoteQ-_ ")
        await propertyCheck(count: 3000, input: Gen.element(of: alphabet).array(of: 0...120)) { characters in
            let text = String(characters.compactMap { $0 })
            _ = try? NIP19(text)
            _ = try? NIP19.publicKey(from: text)
            _ = try? PublicKey(hex: text)
            _ = try? Signature(hex: text)
        }
    }
}
