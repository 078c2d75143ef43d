internal import CSecp256k1
import Crypto
public import PylonBasics

/// A Lightning invoice (BOLT #11), decoded and checked: what a NIP-90 provider asks to be paid and
/// a NIP-47 wallet pays.
///
/// Decoding checks everything a payer must before paying: the bech32 checksum, the currency
/// prefix, the amount (a sub-millisatoshi amount is refused), the fields a reader needs (`p`, `s`,
/// one of `d` or `h`), the feature bits it must understand, and the signature: the payee is
/// recovered from it, or, when the invoice names its payee (`n`), the signature is verified
/// against that key and must be low-S. A field of a fixed length with the wrong length is skipped,
/// as BOLT #11's "fields which must be ignored" example requires; unknown fields are skipped.
public struct BOLT11Invoice: Sendable, Hashable {
    /// The chain the invoice is for, from its prefix (`lnbc`, `lntb`, `lntbs`, `lnbcrt`).
    public enum Network: String, Sendable, Hashable, CaseIterable {
        case bitcoin = "bc"
        case testnet = "tb"
        case signet = "tbs"
        case regtest = "bcrt"
    }

    /// What the payment is for: the text, or the SHA-256 of a text given elsewhere.
    public enum Purpose: Sendable, Hashable {
        case description(String)
        case descriptionHash(Bytes32)
    }

    /// The invoice as given, in lower case.
    public let text: String
    public let network: Network
    /// The amount asked, in millisatoshis; nil for "any amount".
    public let amountMsats: Int64?
    /// When the invoice was made, in seconds since 1970.
    public let timestamp: Int64
    public let paymentHash: Bytes32
    public let paymentSecret: Bytes32
    public let purpose: Purpose
    /// Seconds after ``timestamp`` until the invoice expires (3600 when the invoice does not say).
    public let expirySeconds: Int64
    /// The `min_final_cltv_expiry_delta` (18 when the invoice does not say).
    public let minFinalCLTVExpiryDelta: Int64
    /// The payee's node key, 33 bytes compressed: the `n` field, or recovered from the signature.
    public let payee: [UInt8]

    /// The text of a `d` field, if that is how the invoice says what it is for.
    public var description: String? {
        if case .description(let text) = purpose { return text }
        return nil
    }

    /// When the invoice expires, in seconds since 1970.
    public var expiresAt: Int64 { timestamp.addingReportingOverflow(expirySeconds).overflow ? .max : timestamp + expirySeconds }

    public func isExpired(now: Int64) -> Bool { now >= expiresAt }

    /// The payee's key as lowercase hex.
    public var payeeHex: String { Hex.encode(payee) }

    /// The longest invoice read: far beyond any real one (a field holds at most 639 bytes), short
    /// enough that hostile text costs little.
    public static let maxLength = 7089

    /// Decodes and checks `text` (upper or lower case, not both; a `lightning:` prefix is allowed).
    public init(_ text: String) throws(NostrError) {
        var input = Substring(text.trimmingWhitespace)
        if input.lowercased().hasPrefix("lightning:") { input = input.dropFirst("lightning:".count) }
        guard input.utf8.count <= Self.maxLength else {
            throw Self.invalid("is longer than \(Self.maxLength) characters")
        }
        let (hrpBytes, words): ([UInt8], [UInt8])
        do {
            (hrpBytes, words) = try Bech32.decodeWords(String(input), maxLength: Self.maxLength)
        } catch {
            throw Self.invalid("is not bech32: \(error.message)")
        }
        let hrp = String(decoding: hrpBytes, as: UTF8.self)
        (network, amountMsats) = try Self.readPrefix(hrp)
        self.text = String(input).lowercased()

        // The timestamp (7 words), the tagged fields, the signature (104 words).
        guard words.count >= 7 + 104 else { throw Self.invalid("is too short to hold a timestamp and a signature") }
        let signatureStart = words.count - 104
        timestamp = Int64(Self.integer(words[0..<7]))
        var fields = Fields()
        var index = 7
        while index < signatureStart {
            guard index + 3 <= signatureStart else { throw Self.invalid("ends in the middle of a field") }
            let type = words[index]
            let length = Int(words[index + 1]) << 5 | Int(words[index + 2])
            index += 3
            guard index + length <= signatureStart else { throw Self.invalid("has a field longer than the invoice") }
            try fields.read(type: type, words[index..<(index + length)])
            index += length
        }
        guard let paymentHash = fields.paymentHash else { throw Self.invalid("has no payment hash (p)") }
        guard let paymentSecret = fields.paymentSecret else { throw Self.invalid("has no payment secret (s)") }
        switch (fields.description, fields.descriptionHash) {
        case (let text?, nil): purpose = .description(text)
        case (nil, let hash?): purpose = .descriptionHash(hash)
        case (nil, nil): throw Self.invalid("says neither what it is for (d) nor its hash (h)")
        case (_?, _?): throw Self.invalid("has both a description (d) and a description hash (h)")
        }
        self.paymentHash = paymentHash
        self.paymentSecret = paymentSecret
        expirySeconds = fields.expiry ?? 3600
        minFinalCLTVExpiryDelta = fields.minFinalCLTVExpiryDelta ?? 18

        // The signature covers the prefix's bytes and the data words before it, padded to bytes.
        let signature = Self.bytes(words[signatureStart...])
        guard signature.count == 65, signature[64] <= 3 else { throw Self.invalid("has a malformed signature") }
        let digest = Array(SHA256.hash(data: hrpBytes + Self.bytes(words[..<signatureStart])))
        if let named = fields.payee {
            guard Self.verify(signature: Array(signature[..<64]), digest: digest, publicKey: named) else {
                throw Self.invalid("has a signature that does not verify with its payee key (n), or is not low-S")
            }
            payee = named
        } else {
            guard let recovered = Self.recover(signature: signature, digest: digest) else {
                throw Self.invalid("has a signature from which no payee key can be recovered")
            }
            payee = recovered
        }
    }

    /// Decodes `text`, or throws what `failure` makes of the reason (the caller's own error).
    public init<Failure: Error>(_ text: String, or failure: (NostrError) -> Failure) throws(Failure) {
        do {
            try self.init(text)
        } catch {
            throw failure(error)
        }
    }

    static func invalid(_ problem: String) -> NostrError {
        NostrError(.invalidInvoice, "the invoice \(problem)")
    }

    // MARK: - Prefix and amount

    /// `ln` + currency + optional amount with an optional multiplier.
    static func readPrefix(_ hrp: String) throws(NostrError) -> (Network, Int64?) {
        guard hrp.hasPrefix("ln") else { throw invalid("does not start with ln") }
        let rest = hrp.dropFirst(2)
        // Longest currency first: `bcrt` before `bc`, `tbs` before `tb`.
        guard let network = [Network.regtest, .signet, .bitcoin, .testnet].first(where: { rest.hasPrefix($0.rawValue) }) else {
            throw invalid("is for an unknown currency (\(hrp.prefix(12)))")
        }
        let amountText = rest.dropFirst(network.rawValue.count)
        guard !amountText.isEmpty else { return (network, nil) }
        var digits = Substring(amountText)
        var multiplier: Character?
        if let last = digits.last, !last.isNumber {
            multiplier = last
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0" else {
            throw invalid("has an amount that is not a number without leading zeros (\(amountText.prefix(24)))")
        }
        guard let value = Int64(digits) else { throw invalid("has an amount too large") }
        // One bitcoin is 10^11 millisatoshis.
        let msats: (Int64, Bool)
        switch multiplier {
        case nil: msats = value.multipliedReportingOverflow(by: 100_000_000_000)
        case "m": msats = value.multipliedReportingOverflow(by: 100_000_000)
        case "u": msats = value.multipliedReportingOverflow(by: 100_000)
        case "n": msats = value.multipliedReportingOverflow(by: 100)
        case "p":
            guard value % 10 == 0 else { throw invalid("asks for a fraction of a millisatoshi (\(amountText))") }
            msats = (value / 10, false)
        default:
            throw invalid("has an unknown amount multiplier '\(multiplier.map(String.init) ?? "")'")
        }
        guard !msats.1 else { throw invalid("has an amount too large") }
        return (network, msats.0)
    }

    // MARK: - Fields

    struct Fields {
        var paymentHash: Bytes32?
        var paymentSecret: Bytes32?
        var description: String?
        var descriptionHash: Bytes32?
        var payee: [UInt8]?
        var expiry: Int64?
        var minFinalCLTVExpiryDelta: Int64?

        /// Even feature bits this reader knows (BOLT #9, context `9`): var_onion_optin,
        /// payment_secret, basic_mpp, option_route_blinding, option_attribution_data,
        /// option_payment_metadata. An unknown even bit means "you must understand me".
        static let knownEvenFeatures: Set<Int> = [8, 14, 16, 24, 36, 48]

        /// Reads one field; the first of each kind counts (BOLT #11: the preferred one comes
        /// first). Fields of a fixed length with another length are skipped.
        mutating func read(type: UInt8, _ words: ArraySlice<UInt8>) throws(NostrError) {
            switch type {
            case 1:  // p
                if paymentHash == nil, words.count == 52 { paymentHash = Bytes32(BOLT11Invoice.bytes(words).prefix(32)) }
            case 16:  // s
                if paymentSecret == nil, words.count == 52 { paymentSecret = Bytes32(BOLT11Invoice.bytes(words).prefix(32)) }
            case 23:  // h
                if descriptionHash == nil, words.count == 52 { descriptionHash = Bytes32(BOLT11Invoice.bytes(words).prefix(32)) }
            case 19:  // n
                if payee == nil, words.count == 53 { payee = Array(BOLT11Invoice.bytes(words).prefix(33)) }
            case 13:  // d
                guard description == nil else { return }
                // Whole bytes only: the last word's spare bits are padding.
                guard let text = String(validating: BOLT11Invoice.bytes(words).prefix(words.count * 5 / 8), as: UTF8.self) else {
                    throw BOLT11Invoice.invalid("has a description that is not UTF-8")
                }
                description = text
            case 6:  // x
                if expiry == nil { expiry = try Self.minimalInteger(words, name: "expiry (x)") }
            case 24:  // c
                if minFinalCLTVExpiryDelta == nil { minFinalCLTVExpiryDelta = try Self.minimalInteger(words, name: "min_final_cltv_expiry_delta (c)") }
            case 5:  // 9
                try Self.checkFeatures(words)
            default:
                break  // f, r, m and fields this reader does not know
            }
        }

        /// A big-endian integer with no leading zero words, at most 63 bits.
        static func minimalInteger(_ words: ArraySlice<UInt8>, name: String) throws(NostrError) -> Int64 {
            guard words.first != 0 else { throw BOLT11Invoice.invalid("has a \(name) with leading zeros") }
            guard words.count <= 12 else { throw BOLT11Invoice.invalid("has a \(name) too large") }
            return Int64(BOLT11Invoice.integer(words))
        }

        /// Fails on an unknown even bit; odd bits are "it's ok to be odd".
        static func checkFeatures(_ words: ArraySlice<UInt8>) throws(NostrError) {
            guard words.first != 0 else { throw BOLT11Invoice.invalid("has feature bits (9) with leading zeros") }
            for (offset, word) in words.reversed().enumerated() where word != 0 {
                for bit in 0..<5 where word & (1 << bit) != 0 {
                    let number = offset * 5 + bit
                    if number % 2 == 0, !knownEvenFeatures.contains(number) {
                        throw BOLT11Invoice.invalid("requires feature \(number), which this wallet does not know")
                    }
                }
            }
        }
    }

    // MARK: - Words

    /// 5-bit words as one big-endian integer (at most 12 words, 60 bits).
    static func integer(_ words: ArraySlice<UInt8>) -> UInt64 {
        words.reduce(0) { $0 << 5 | UInt64($1) }
    }

    /// 5-bit words as bytes, the last byte padded with zero bits.
    static func bytes(_ words: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(words.count * 5 / 8 + 1)
        var accumulator = 0
        var bits = 0
        for word in words {
            accumulator = (accumulator << 5) | Int(word)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> bits) & 0xFF))
            }
            accumulator &= (1 << bits) - 1
        }
        if bits > 0 { out.append(UInt8((accumulator << (8 - bits)) & 0xFF)) }
        return out
    }

    // MARK: - Signature

    /// The compressed key that made `signature` (r ‖ s ‖ recovery id) over `digest`; high-S
    /// signatures are accepted, as BOLT #11 requires of recovery.
    static func recover(signature: [UInt8], digest: [UInt8]) -> [UInt8]? {
        let context = Secp256k1Context.shared.pointer
        var recoverable = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(context, &recoverable, signature, Int32(signature[64])) == 1 else {
            return nil
        }
        var key = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &key, &recoverable, digest) == 1 else { return nil }
        return serialize(key)
    }

    /// Whether `signature` (r ‖ s, low-S) over `digest` verifies with the compressed `publicKey`.
    static func verify(signature: [UInt8], digest: [UInt8], publicKey: [UInt8]) -> Bool {
        let context = Secp256k1Context.shared.pointer
        var key = secp256k1_pubkey()
        guard publicKey.count == 33, secp256k1_ec_pubkey_parse(context, &key, publicKey, 33) == 1 else { return false }
        var parsed = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_compact(context, &parsed, signature) == 1 else { return false }
        // secp256k1_ecdsa_verify refuses a high-S signature, which BOLT #11 asks of a reader given `n`.
        return secp256k1_ecdsa_verify(context, &parsed, digest, &key) == 1
    }

    static func serialize(_ key: secp256k1_pubkey) -> [UInt8]? {
        var key = key
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        guard secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.pointer, &out, &length, &key, UInt32(SECP256K1_EC_COMPRESSED)) == 1,
            length == 33
        else { return nil }
        return out
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks.
    fileprivate var trimmingWhitespace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[start...end]
    }
}
