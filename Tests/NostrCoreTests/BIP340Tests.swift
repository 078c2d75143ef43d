import NostrCore
import Testing

/// BIP-340 against every row of `bitcoin/bips` `bip-0340/test-vectors.csv`.
@Suite("BIP-340 Schnorr signatures")
struct BIP340Tests {
    @Test("signing with the given aux_rand reproduces the signature", arguments: Vectors.bip340.filter { !$0.secretKey.isEmpty })
    func signReproducesVector(_ vector: BIP340Vector) throws {
        // Given the row's secret key, message and auxiliary randomness
        let keypair = Keypair(try SecretKey(hex: vector.secretKey))
        let message = try bytes(vector.message)
        let aux = try bytes32(vector.auxRand)

        // When it signs
        let signature = Schnorr.sign(message, with: keypair, auxRand: aux)

        // Then public key and signature match the row byte for byte, and the signature verifies
        #expect(keypair.publicKey.hex == vector.publicKey.lowercased())
        #expect(signature.hex == vector.signature.lowercased())
        #expect(Schnorr.verify(signature, message: message, publicKey: keypair.publicKey))
    }

    @Test("verification gives the expected result", arguments: Vectors.bip340)
    func verifyMatchesVector(_ vector: BIP340Vector) throws {
        // Given the row's public key (possibly not on the curve), message and signature
        let publicKey = try PublicKey(bytes: try bytes(vector.publicKey))
        let signature = try Signature(bytes: try bytes(vector.signature))
        let message = try bytes(vector.message)

        // When it verifies
        let valid = Schnorr.verify(signature, message: message, publicKey: publicKey)

        // Then the outcome is the row's TRUE/FALSE, and an invalid key gives false instead of trapping
        #expect(valid == vector.result)
    }

    @Test("messages of 0, 1, 17 and 100 bytes are covered")
    func variableLengthRowsPresent() {
        // Given the current vector file; Then rows 15-18 carry the non-32-byte messages
        let lengths = Vectors.bip340.filter { $0.index >= 15 }.map { $0.message.count / 2 }
        #expect(lengths == [0, 1, 17, 100])
    }
}

/// The buffered stream behind signatures' auxiliary randomness and WebSocket masking keys.
@Suite("StreamRandom")
struct StreamRandomTests {
    @Test("draws across many refills never repeat, and two signatures of one message differ")
    func unpredictable() throws {
        // 40,000 draws of 32 bytes: about 300 refills of the 4 KiB buffer, at every alignment
        var seen = Set<Bytes32>()
        for _ in 0..<40_000 { seen.insert(StreamRandom.bytes32()) }
        #expect(seen.count == 40_000)
        // Odd sizes straddle a refill and still come out whole (not all zero)
        for size in [1, 3, 4095, 4096, 4097, 9000] {
            var buffer = [UInt8](repeating: 0, count: size)
            buffer.withUnsafeMutableBytes { StreamRandom.fill($0) }
            #expect(buffer.contains { $0 != 0 })
        }
        // The auxiliary randomness reaches the signature: same key, same message, new signature each time
        let keypair = Keypair.generate()
        let message = Bytes32.zero
        let first = Schnorr.sign(message, with: keypair)
        let second = Schnorr.sign(message, with: keypair)
        #expect(first != second)
        #expect(Schnorr.verify(first, hash: message, publicKey: keypair.publicKey))
    }
}
