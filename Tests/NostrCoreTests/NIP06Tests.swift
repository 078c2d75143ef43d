import NostrCore
import PylonBasics
import Testing

/// NIP-06 against `nostr-vectors.json` (the two vectors of 06.md, also in protocols.md §2).
@Suite("NIP-06 key derivation")
struct NIP06Tests {
    @Test("phrase → keys", arguments: Vectors.nostr?.nip06 ?? [])
    func vector(_ vector: NIP06Case) throws {
        // Given the vector's phrase
        let mnemonic = try Mnemonic(phrase: vector.mnemonic)

        // When the account's keypair is derived along m/44'/1237'/<account>'/0/0
        let keypair = NIP06.keypair(from: mnemonic, passphrase: vector.passphrase, account: vector.account)

        // Then secret and public key are the vector's
        #expect(keypair.secretKey.hex == vector.sk)
        #expect(keypair.publicKey.hex == vector.pk)
    }

    @Test("the first vector, as written in protocols.md §2")
    func documentedVector() throws {
        let mnemonic = try Mnemonic(phrase: "leader monkey parrot ring guide accident before fence cannon height naive bean")
        let keypair = NIP06.keypair(from: mnemonic)
        #expect(keypair.secretKey.hex == "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a")
        #expect(keypair.publicKey.hex == "17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917")
    }

    @Test("the path and the derivation agree")
    func pathMatchesDerivation() throws {
        // Given a phrase and account 3
        let mnemonic = try Mnemonic(phrase: "leader monkey parrot ring guide accident before fence cannon height naive bean")
        #expect(NIP06.path(account: 0) == "m/44'/1237'/0'/0/0")
        #expect(NIP06.path(account: 3) == "m/44'/1237'/3'/0/0")

        // When account 3 is derived directly and through the path
        let direct = NIP06.keypair(from: mnemonic, account: 3)
        let viaPath = try ExtendedPrivateKey.master(seed: mnemonic.seed()).derive(path: NIP06.path(account: 3))

        // Then both give the same key, different from account 0
        #expect(direct.secretKey == viaPath.secretKey)
        #expect(direct.secretKey != NIP06.keypair(from: mnemonic).secretKey)
    }

    @Test("a passphrase changes the keys")
    func passphrase() throws {
        let mnemonic = try Mnemonic(phrase: "leader monkey parrot ring guide accident before fence cannon height naive bean")
        #expect(NIP06.keypair(from: mnemonic, passphrase: "x").publicKey != NIP06.keypair(from: mnemonic).publicKey)
    }

    @Test("an account number beyond 2^31 - 1 is an error, not a crash")
    func accountOutOfRange() throws {
        let mnemonic = try Mnemonic(phrase: "leader monkey parrot ring guide accident before fence cannon height naive bean")
        let error = #expect(throws: NostrError.self) {
            try NIP06.validatedKeypair(from: mnemonic, account: NIP06.maxAccount + 1)
        }
        #expect(error?.code == .invalidField)
        #expect(try NIP06.validatedKeypair(from: mnemonic, account: NIP06.maxAccount).publicKey.isValid)
    }
}
