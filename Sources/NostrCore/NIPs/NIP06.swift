/// NIP-06: Nostr keys from a BIP-39 mnemonic, derived with BIP-32 along `m/44'/1237'/<account>'/0/0`
/// (1237 is Nostr's SLIP-44 coin type). The secret key is the derived scalar and the public key its
/// x-only form.

public import PylonBasics

public enum NIP06 {
    /// Nostr's SLIP-44 coin type.
    public static let coinType: UInt32 = 1237

    /// The largest account number: the account step is hardened, so it must be below 2^31.
    public static let maxAccount: UInt32 = 0x7FFF_FFFF

    /// The derivation path of an account, `m/44'/1237'/<account>'/0/0`.
    public static func path(account: UInt32) -> String {
        "m/44'/\(coinType)'/\(account)'/0/0"
    }

    /// The keypair of `account` (default 0, the one every NIP-06 wallet shows first).
    ///
    /// - Precondition: `account <= maxAccount`. Derivation itself fails only with probability below
    ///   2^-127 per step (BIP-32's invalid-child case), which no phrase can trigger on purpose. Use
    ///   ``validatedKeypair(from:passphrase:account:)`` to get an error instead, e.g. for an account
    ///   number a user typed.
    public static func keypair(from mnemonic: Mnemonic, passphrase: String = "", account: UInt32 = 0) -> Keypair {
        do {
            return try validatedKeypair(from: mnemonic, passphrase: passphrase, account: account)
        } catch {
            preconditionFailure("NIP-06 derivation failed: \(error.message)")
        }
    }

    /// The keypair of `account`, or ``NostrError/Code/invalidField`` for an account above
    /// ``maxAccount`` and ``NostrError/Code/invalidKey`` in BIP-32's negligible invalid-child case.
    public static func validatedKeypair(
        from mnemonic: Mnemonic, passphrase: String = "", account: UInt32 = 0
    ) throws(NostrError) -> Keypair {
        guard account <= maxAccount else {
            throw NostrError(.invalidField, "a NIP-06 account number is at most \(maxAccount), got \(account)")
        }
        let master = try ExtendedPrivateKey.master(seed: mnemonic.seed(passphrase: passphrase))
        return Keypair(try master.derive(path: path(account: account)).secretKey)
    }
}
