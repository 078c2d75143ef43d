// Crypto benchmark: signatures/s, verifications/s and event ids/s through pylon's API, next to
// the same work done with direct libsecp256k1 / swift-crypto calls, in the same run.
//
//   swift build -c release --product crypto-bench && .build/release/crypto-bench [--seconds 1.0] [--rounds 5]
//
// Each measurement runs for a fixed time; rounds alternate pylon and direct so drift on a busy
// machine hits both alike. The printed figure is the median round.
import CSecp256k1
import Crypto
import Foundation
import NostrCore

var secondsPerRound = 1.0
var rounds = 5
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--seconds": secondsPerRound = arguments.next().flatMap(Double.init) ?? secondsPerRound
    case "--rounds": rounds = arguments.next().flatMap(Int.init) ?? rounds
    default:
        print("usage: crypto-bench [--seconds S] [--rounds N]")
        exit(2)
    }
}

/// Runs `body` repeatedly for about `seconds` and returns operations per second.
@inline(never)
@MainActor func rate(_ seconds: Double, _ body: @MainActor () -> Void) -> Double {
    let clock = ContinuousClock()
    var count = 0
    let start = clock.now
    let deadline = start + .milliseconds(Int(seconds * 1000))
    while clock.now < deadline {
        for _ in 0..<64 { body() }
        count += 64
    }
    let elapsed = clock.now - start
    return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

// Fixtures: one key, one typical NIP-90 request.
let keypair = Keypair.generate()
let unsigned = UnsignedEvent(
    pubkey: keypair.publicKey, createdAt: 1_700_000_000, kind: 5050,
    tags: [["i", "What is the capital of France? Answer in one sentence.", "text"], ["param", "max_tokens", "256"],
           ["param", "temperature", "0.7"], ["p", keypair.publicKey.hex], ["relays", "wss://relay.example.com"]],
    content: "")
let event = unsigned.sign(with: keypair)
let message = event.id.bytes32.bytes
let signatureBytes = event.sig.bytes
let publicKeyBytes = keypair.publicKey.bytes
let preimage = unsigned.canonicalSerialization

// Direct libsecp256k1 fixtures.
let ctx = secp256k1_context_create(UInt32(SECP256K1_FLAGS_TYPE_CONTEXT))!
var rawKeypair = secp256k1_keypair()
_ = keypair.secretKey.rawBytes.withUnsafeBufferPointer { secp256k1_keypair_create(ctx, &rawKeypair, $0.baseAddress!) }
var sink: UInt64 = 0

@MainActor func directSign() {
    var aux = [UInt8](repeating: 0, count: 32)
    arc4random_buf(&aux, 32)
    var sig = [UInt8](repeating: 0, count: 64)
    _ = secp256k1_schnorrsig_sign32(ctx, &sig, message, &rawKeypair, aux)
    sink &+= UInt64(sig[0])
}

@MainActor func directVerify() {
    var key = secp256k1_xonly_pubkey()
    _ = secp256k1_xonly_pubkey_parse(ctx, &key, publicKeyBytes)
    sink &+= UInt64(secp256k1_schnorrsig_verify(ctx, signatureBytes, message, 32, &key))
}

@MainActor func directID() {
    let digest = SHA256.hash(data: preimage)
    sink &+= UInt64(digest.withUnsafeBytes { $0[0] })
}

@MainActor func pylonSign() { sink &+= UInt64(Schnorr.sign(event.id.bytes32, with: keypair).r.bytes[0]) }
@MainActor func pylonVerify() { sink &+= event.hasValidSignature ? 1 : 0 }
@MainActor func pylonID() { sink &+= UInt64(unsigned.id.bytes32.bytes[0]) }
@MainActor func pylonParseVerify() {
    if let parsed = try? Event(json: eventJSON), (try? parsed.verify()) != nil { sink &+= 1 }
}
let eventJSON = event.jsonString
// A relay's answer to a publish, read by the one JSON parser (a compact-OK shortcut saved 0.28 µs of
// 0.66 µs per OK, about 1 µs of a job's 1.2 ms of CPU, and was removed).
let relayOK = #"["OK","\#(event.id.hex)",true,""]"#
@MainActor func okRead() { if case .ok? = try? RelayMessage(json: relayOK) { sink &+= 1 } }

struct Row {
    let name: String
    let pylon: @MainActor () -> Void
    let direct: (@MainActor () -> Void)?
    let directName: String
}

let rows = [
    Row(name: "sign (BIP-340, fresh aux)", pylon: pylonSign, direct: directSign, directName: "secp256k1_schnorrsig_sign32"),
    Row(name: "verify (parse key + verify)", pylon: pylonVerify, direct: directVerify, directName: "xonly_pubkey_parse + schnorrsig_verify"),
    Row(name: "event id (serialize + sha256)", pylon: pylonID, direct: directID, directName: "SHA256 of a ready preimage"),
    Row(name: "event parse + id + verify", pylon: pylonParseVerify, direct: nil, directName: "-"),
    Row(name: "relay OK parse", pylon: okRead, direct: nil, directName: "-"),
]

print("crypto-bench: \(rounds) rounds × \(secondsPerRound) s, median round; \(ProcessInfo.processInfo.activeProcessorCount) cores")
print("")
print("operation                        pylon ops/s     direct ops/s    pylon overhead   direct = ")
for row in rows {
    var ours: [Double] = []
    var theirs: [Double] = []
    for _ in 0..<rounds {
        ours.append(rate(secondsPerRound, row.pylon))
        if let direct = row.direct { theirs.append(rate(secondsPerRound, direct)) }
    }
    let p = median(ours)
    if theirs.isEmpty {
        print(String(format: "%-32@ %12.0f %16@ %16@   %@", row.name as NSString, p, "-" as NSString, "-" as NSString, row.directName as NSString))
    } else {
        let d = median(theirs)
        let overhead = (d / p - 1) * 100
        print(String(format: "%-32@ %12.0f %16.0f %15.1f%%   %@", row.name as NSString, p, d, overhead, row.directName as NSString))
    }
}
print("")
print("target: pylon's overhead within 15% of the raw library (sink \(sink % 10))")
