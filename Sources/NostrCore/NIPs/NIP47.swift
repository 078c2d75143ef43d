import Foundation
public import PylonBasics

/// NIP-47, Nostr Wallet Connect, as values: the connection URI, the wallet service's info event,
/// requests, responses and notifications, and the error codes. The Payments module runs the
/// conversation over relays; nothing here does I/O.
public enum NIP47 {
    /// The wallet service's capabilities (replaceable); a request; its answer.
    public static let infoKind: Kind = 13194, requestKind: Kind = 23194, responseKind: Kind = 23195
    /// Notifications: NIP-44 v2 encrypted, and NIP-04 encrypted for clients of older wallets.
    public static let notificationKind: Kind = 23197, legacyNotificationKind: Kind = 23196
}

/// A `nostr+walletconnect://` URI: the wallet service's key, its relays, the secret this client
/// signs and encrypts with, and an optional lightning address.
///
/// The secret gives whoever holds it the wallet's spending power: `description` never shows it,
/// and ``uri`` is the only way to get the text back (to write the 0600 file).
public struct WalletConnectURI: Sendable, Equatable, CustomStringConvertible {
    public let walletPubkey: PublicKey
    public let relays: [String]
    public let secret: SecretKey
    public let lud16: String?

    public init(walletPubkey: PublicKey, relays: [String], secret: SecretKey, lud16: String? = nil) {
        self.walletPubkey = walletPubkey
        self.relays = relays
        self.secret = secret
        self.lud16 = lud16
    }

    /// Parses the URI; errors name the part that is wrong and never repeat the secret.
    public init(parsing text: String) throws(NostrError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let scheme = "nostr+walletconnect:"
        guard trimmed.lowercased().hasPrefix(scheme) else {
            throw NostrError(.invalidField, "a wallet connection starts with nostr+walletconnect://")
        }
        var rest = trimmed.dropFirst(scheme.count)
        if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let key = parts.first, let walletPubkey = try? PublicKey(hex: key) else {
            throw NostrError(.invalidField, "the wallet connection does not name the wallet service's public key (64 hex characters after //)")
        }
        var relays: [String] = []
        var secret: SecretKey?
        var lud16: String?
        for item in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            let value = pair.count > 1 ? (String(pair[1]).removingPercentEncoding ?? String(pair[1])) : ""
            switch name {
            case "relay":
                guard value.hasPrefix("ws://") || value.hasPrefix("wss://") else {
                    throw NostrError(.invalidField, "the wallet connection's relay \(value.prefix(80)) is not a ws:// or wss:// URL")
                }
                relays.append(value)
            case "secret":
                guard let key = try? SecretKey(hex: value) else {
                    throw NostrError(.invalidField, "the wallet connection's secret is not a valid secret key (64 hex characters)")
                }
                secret = key
            case "lud16":
                lud16 = value.isEmpty ? nil : value
            default:
                continue
            }
        }
        guard !relays.isEmpty else { throw NostrError(.invalidField, "the wallet connection names no relay") }
        guard let secret else { throw NostrError(.invalidField, "the wallet connection has no secret") }
        self.init(walletPubkey: walletPubkey, relays: relays, secret: secret, lud16: lud16)
    }

    /// The URI's text, with the secret: for the 0600 file only.
    public var uri: String {
        var text = "nostr+walletconnect://\(walletPubkey.hex)?"
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        text += relays.map { "relay=" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) }.joined(separator: "&")
        text += "&secret=\(secret.hex)"
        if let lud16 { text += "&lud16=\(lud16.addingPercentEncoding(withAllowedCharacters: allowed) ?? lud16)" }
        return text
    }

    /// The URI without its secret, for logs and `wallet info`.
    public var description: String {
        "nostr+walletconnect://\(walletPubkey.hex)?relay=\(relays.joined(separator: ","))&secret=<redacted>"
    }

    /// The client's key pair: signs requests, decrypts answers.
    public var clientKeys: Keypair { Keypair(secret) }

    /// `kept` when it is what this URI's client shares with the wallet, else those keys derived now.
    func sharedKeys(_ kept: SharedKeys?) throws(NostrError) -> SharedKeys {
        if let kept, kept.peer == walletPubkey { return kept }
        return try SharedKeys(secretKey: secret, peer: walletPubkey)
    }
}

/// What a wallet service says it can do (its kind 13194 event).
public struct WalletInfo: Sendable, Equatable {
    public var methods: Set<WalletMethod>
    /// Every method name it lists, known to pylon or not.
    public var methodNames: [String]
    /// The encryption schemes it accepts; NIP-04 alone when the event has no `encryption` tag.
    public var encryptions: [EncryptionScheme]
    /// The notification types it sends (`payment_received`, `payment_sent`).
    public var notifications: Set<String>

    public init(methodNames: [String], encryptions: [EncryptionScheme], notifications: Set<String>) {
        self.methodNames = methodNames
        self.methods = Set(methodNames.compactMap(WalletMethod.init(rawValue:)))
        self.encryptions = encryptions
        self.notifications = notifications
    }

    /// Reads an info event; tolerant of unknown methods and schemes.
    public init(event: Event) {
        let names = event.content.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        var encryptions: [EncryptionScheme] = []
        if let tag = event.tags.first(named: "encryption"), let value = tag.value {
            for word in value.split(separator: " ") {
                switch word {
                case "nip44_v2": encryptions.append(.nip44)
                case "nip04": encryptions.append(.nip04)
                default: continue
                }
            }
        } else {
            encryptions = [.nip04]
        }
        let notifications = Set((event.tags.first(named: "notifications")?.value ?? "").split(separator: " ").map(String.init))
        self.init(methodNames: names, encryptions: encryptions, notifications: notifications)
    }

    /// NIP-44 v2 when offered, NIP-04 otherwise (NIP-47: a service without the tag speaks NIP-04).
    public var preferredEncryption: EncryptionScheme {
        encryptions.contains(.nip44) ? .nip44 : .nip04
    }

    /// Whether the wallet pushes `payment_received`.
    public var notifiesPayments: Bool {
        methodNames.contains("notifications") && notifications.contains("payment_received")
    }
}

/// The NIP-47 methods pylon uses.
public enum WalletMethod: String, Sendable, Hashable, CaseIterable {
    case getInfo = "get_info", getBalance = "get_balance", listTransactions = "list_transactions"
    case makeInvoice = "make_invoice", lookupInvoice = "lookup_invoice", payInvoice = "pay_invoice"
}

/// A NIP-47 error code (NIP-47 "Error codes", plus the per-method ones), each with a sentence a
/// user understands. An unknown code reads as ``other``.
public enum WalletErrorCode: String, PylonErrorCode, CaseIterable {
    // NIP-47's general codes, then pay_invoice's and lookup_invoice's.
    case rateLimited = "RATE_LIMITED", notImplemented = "NOT_IMPLEMENTED", insufficientBalance = "INSUFFICIENT_BALANCE"
    case quotaExceeded = "QUOTA_EXCEEDED", restricted = "RESTRICTED", unauthorized = "UNAUTHORIZED", `internal` = "INTERNAL"
    case unsupportedEncryption = "UNSUPPORTED_ENCRYPTION", other = "OTHER"
    case paymentFailed = "PAYMENT_FAILED", notFound = "NOT_FOUND"

    /// What the code means, for a person.
    public var explanation: String {
        switch self {
        case .rateLimited: "the wallet is rate-limiting this connection; it will accept requests again in a few seconds"
        case .notImplemented: "the wallet does not offer this command"
        case .insufficientBalance: "the wallet does not hold enough to pay this amount and its fee reserve"
        case .quotaExceeded: "the wallet connection has used up its spending budget"
        case .restricted: "this wallet connection is not allowed to do that"
        case .unauthorized: "the wallet does not know this connection (was it revoked?)"
        case .internal: "the wallet had an internal error"
        case .unsupportedEncryption: "the wallet does not accept the encryption pylon used"
        case .paymentFailed: "the payment failed (no route, a timeout, or the invoice was already paid or expired)"
        case .notFound: "the wallet has no such invoice or payment"
        case .other: "the wallet refused the request"
        }
    }
}

/// A request to the wallet service, and its event.
public struct WalletRequest: Sendable, Equatable {
    public var method: WalletMethod
    public var params: JSON

    public init(_ method: WalletMethod, _ params: JSON = .object([])) {
        self.method = method
        self.params = params
    }

    /// The kind 23194 event: content encrypted to the wallet with `encryption` (named in an
    /// `encryption` tag when it is NIP-44), `p` the wallet, `expiration` when given. `client` and
    /// `shared`: the URI's client key pair and the keys it shares with the wallet, if the caller
    /// keeps them (else derived now).
    public func event(
        to uri: WalletConnectURI, encryption: EncryptionScheme, now: Int64, expiration: Int64? = nil, client: Keypair? = nil,
        shared: SharedKeys? = nil
    ) throws(NostrError) -> Event {
        let keys = client.flatMap { $0.secretKey == uri.secret ? $0 : nil } ?? uri.clientKeys
        let plaintext = JSON.object([.init("method", .string(method.rawValue)), .init("params", params)]).serialized
        let content = try uri.sharedKeys(shared).encrypt(plaintext, scheme: encryption)
        var tags: [Tag] = [["p", uri.walletPubkey.hex]]
        if encryption == .nip44 { tags.append(["encryption", "nip44_v2"]) }
        if let expiration { tags.append(["expiration", String(expiration)]) }
        return UnsignedEvent(pubkey: keys.publicKey, createdAt: now, kind: NIP47.requestKind, tags: tags, content: content).sign(with: keys)
    }
}

/// The wallet service's answer to one request.
public struct WalletResponse: Sendable, Equatable {
    /// The request it answers (its `e` tag).
    public var requestID: EventID
    public var resultType: String
    public var result: JSON?
    public var error: WalletError?

    /// Reads a kind 23195 event addressed to `uri`'s client; the scheme is the request's, found by
    /// the content's shape. `shared`: as in ``WalletRequest/event(to:encryption:now:expiration:client:shared:)``.
    public init(event: Event, uri: WalletConnectURI, shared: SharedKeys? = nil) throws(NostrError) {
        guard event.kind == NIP47.responseKind else { throw NostrError(.invalidField, "a wallet response is kind 23195, not \(event.kind)") }
        guard event.pubkey == uri.walletPubkey else { throw NostrError(.invalidField, "the response is not from the connected wallet") }
        guard let reference = event.tags.first(named: "e")?.value, let requestID = try? EventID(hex: reference) else {
            throw NostrError(.invalidField, "the wallet response names no request (e tag)")
        }
        let plaintext = try uri.sharedKeys(shared).decrypt(event.content, scheme: EncryptionScheme.detect(event.content))
        let json = try JSON.parseNostr(plaintext)
        guard case .object = json else { throw NostrError(.invalidJSON, "the wallet response is not a JSON object") }
        self.requestID = requestID
        self.resultType = json["result_type"]?.stringValue ?? ""
        if let error = json["error"], !error.isNull {
            let code = error["code"]?.stringValue.flatMap(WalletErrorCode.init(rawValue:)) ?? .other
            let message = error["message"]?.stringValue ?? ""
            self.error = WalletError(code, message)
            self.result = nil
        } else {
            self.error = nil
            self.result = json["result"].flatMap { $0.isNull ? nil : $0 }
        }
    }
}

/// An error the wallet service answered: its NIP-47 code and message.
public struct WalletError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: WalletErrorCode
    /// The wallet's own words (never shown without the code's explanation).
    public var message: String

    public init(_ code: WalletErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        message.isEmpty ? "\(code.explanation) (\(code.rawValue))" : "\(code.explanation) (\(code.rawValue): \(message.prefix(200)))"
    }
}

/// An invoice or a payment as a wallet reports it (`make_invoice`, `lookup_invoice`,
/// `list_transactions`, notifications).
public struct WalletTransaction: Sendable, Equatable {
    public enum Direction: String, Sendable { case incoming, outgoing }
    public enum State: String, Sendable { case pending, settled, accepted, expired, failed }

    public var direction: Direction?
    public var state: State?
    public var invoice: String?
    public var description: String?
    public var paymentHash: String
    public var preimage: String?
    public var amountMsats: Int64
    public var feesPaidMsats: Int64?
    public var createdAt: Int64?
    public var expiresAt: Int64?
    public var settledAt: Int64?

    public init(
        direction: Direction? = nil, state: State? = nil, invoice: String? = nil, description: String? = nil, paymentHash: String,
        preimage: String? = nil, amountMsats: Int64, feesPaidMsats: Int64? = nil, createdAt: Int64? = nil, expiresAt: Int64? = nil,
        settledAt: Int64? = nil
    ) {
        self.direction = direction
        self.state = state
        self.invoice = invoice
        self.description = description
        self.paymentHash = paymentHash
        self.preimage = preimage
        self.amountMsats = amountMsats
        self.feesPaidMsats = feesPaidMsats
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.settledAt = settledAt
    }

    /// Reads a transaction object; a missing payment hash or amount is an error.
    public init(json: JSON) throws(NostrError) {
        guard let paymentHash = json["payment_hash"]?.stringValue, paymentHash.count == 64 else {
            throw NostrError(.invalidField, "the wallet's transaction has no payment hash")
        }
        guard let amount = json["amount"]?.int64Value, amount >= 0 else {
            throw NostrError(.invalidField, "the wallet's transaction has no amount")
        }
        self.init(
            direction: json["type"]?.stringValue.flatMap(Direction.init(rawValue:)),
            state: json["state"]?.stringValue.flatMap(State.init(rawValue:)),
            invoice: json["invoice"]?.stringValue, description: json["description"]?.stringValue, paymentHash: paymentHash.lowercased(),
            preimage: json["preimage"]?.stringValue, amountMsats: amount, feesPaidMsats: json["fees_paid"]?.int64Value,
            createdAt: json["created_at"]?.int64Value, expiresAt: json["expires_at"]?.int64Value, settledAt: json["settled_at"]?.int64Value)
    }

    /// Settled: the state says so, or (for wallets that omit the state) a settlement time or a
    /// preimage is given.
    public var isSettled: Bool {
        if let state { return state == .settled }
        return settledAt != nil || (preimage.map { !$0.isEmpty } ?? false)
    }
}

/// A `payment_received` or `payment_sent` push from the wallet.
public struct WalletNotification: Sendable, Equatable {
    public var type: String
    public var transaction: WalletTransaction

    /// Reads a kind 23197 (NIP-44) or 23196 (NIP-04) event addressed to `uri`'s client. `shared`:
    /// as in ``WalletRequest/event(to:encryption:now:expiration:client:shared:)``.
    public init(event: Event, uri: WalletConnectURI, shared: SharedKeys? = nil) throws(NostrError) {
        guard event.kind == NIP47.notificationKind || event.kind == NIP47.legacyNotificationKind else {
            throw NostrError(.invalidField, "a wallet notification is kind 23197 or 23196, not \(event.kind)")
        }
        guard event.pubkey == uri.walletPubkey else { throw NostrError(.invalidField, "the notification is not from the connected wallet") }
        let scheme: EncryptionScheme = event.kind == NIP47.legacyNotificationKind ? .nip04 : .nip44
        let plaintext = try uri.sharedKeys(shared).decrypt(event.content, scheme: scheme)
        let json = try JSON.parseNostr(plaintext)
        guard let type = json["notification_type"]?.stringValue, let body = json["notification"] else {
            throw NostrError(.invalidField, "the wallet notification has no notification_type or notification")
        }
        self.type = type
        self.transaction = try WalletTransaction(json: body)
    }
}
