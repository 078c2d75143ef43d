public import NostrCore

/// Why a response could not be made.
public struct ResponseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Builds and signs the provider's answers to one request (NIP-90 §4.3, §4.4): feedback and the
/// result, encrypted with the request's scheme when it was encrypted, and sized for relays.
public struct Responder: Sendable {
    public let keypair: Keypair
    /// The largest serialized event relays are asked to take.
    public var maxEventBytes: Int
    /// The longest single-letter tag value echoed (`i` tags).
    public var maxTagValueBytes: Int

    public init(keypair: Keypair, maxEventBytes: Int = 60 * 1024, maxTagValueBytes: Int = 1024) {
        self.keypair = keypair
        self.maxEventBytes = maxEventBytes
        self.maxTagValueBytes = maxTagValueBytes
    }

    /// A kind 7000 feedback event: `status` (with a human `extra`), `e`, `p`, optional `amount`;
    /// `content` (partial output) is encrypted when the request was.
    public func feedback(
        _ status: FeedbackStatus, extra: String? = nil, content: String = "", to request: RequestReference, amount: (msats: Int64, bolt11: String?)? = nil,
        now: Int64
    ) throws(ResponseError) -> Event {
        var tags: [Tag] = [Tag(["status", status.rawValue] + (extra.map { [Self.clip($0, to: 1000)] } ?? []))]
        if let amount { tags.append(Tag(["amount", String(amount.msats)] + (amount.bolt11.map { [$0] } ?? []))) }
        tags.append(["e", request.id.hex])
        tags.append(["p", request.customer.hex])
        var body = content
        if let scheme = request.encryption {
            tags.append(["encrypted"])
            if !content.isEmpty { body = try encrypt(content, scheme, for: request.customer) }
        }
        let event = UnsignedEvent(pubkey: keypair.publicKey, createdAt: now, kind: .jobFeedback, tags: tags, content: body).sign(with: keypair)
        guard event.jsonString.utf8.count <= maxEventBytes else {
            throw ResponseError(message: "the feedback is larger than relays accept")
        }
        return event
    }

    /// The kind (request + 1000) result: `request`, `e`, `p`, the `i` tags unless encrypted (left
    /// out when they would make the event too large, or one is over the tag size limit), `amount`
    /// when priced, `encrypted` when encrypted. Output that cannot fit is an error: the caller
    /// sends `error` feedback instead of a result relays would drop.
    public func result(output: String, for request: RequestReference, amountMsats: Int64?, now: Int64) throws(ResponseError) -> Event {
        let kind = Kind(request.kind.rawValue + 1000)
        var tags: [Tag] = [["request", request.requestJSON], ["e", request.id.hex], ["p", request.customer.hex]]
        if let amountMsats, amountMsats > 0 { tags.append(["amount", String(amountMsats)]) }
        var content = output
        if let scheme = request.encryption {
            tags.append(["encrypted"])
            content = try encrypt(output, scheme, for: request.customer)
        }
        let echo = request.encryption == nil ? request.inputTags : []
        let echoFits = echo.allSatisfy { $0.fields.allSatisfy { $0.utf8.count <= maxTagValueBytes } }
        if echoFits && !echo.isEmpty {
            let event = UnsignedEvent(pubkey: keypair.publicKey, createdAt: now, kind: kind, tags: echo + tags, content: content).sign(with: keypair)
            if event.jsonString.utf8.count <= maxEventBytes { return event }
        }
        let event = UnsignedEvent(pubkey: keypair.publicKey, createdAt: now, kind: kind, tags: tags, content: content).sign(with: keypair)
        let size = event.jsonString.utf8.count
        guard size <= maxEventBytes else {
            throw ResponseError(
                message: "the result would be \(size) bytes, more than the \(maxEventBytes) relays accept (the output is \(output.utf8.count) bytes); ask for fewer tokens")
        }
        return event
    }

    private func encrypt(_ text: String, _ scheme: EncryptionScheme, for customer: PublicKey) throws(ResponseError) -> String {
        do {
            return try scheme.encrypt(text, secretKey: keypair.secretKey, peer: customer)
        } catch {
            throw ResponseError(message: "cannot encrypt the answer (\(scheme.rawValue)): \(error.message)")
        }
    }

    static func clip(_ text: String, to bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > bytes - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}

/// What answering a request needs of it, without the decrypted inputs (kept for jobs restored
/// from the store).
public struct RequestReference: Sendable {
    public var id: EventID
    public var kind: Kind
    public var customer: PublicKey
    public var encryption: EncryptionScheme?
    /// The request event's JSON, for the result's `request` tag.
    public var requestJSON: String
    /// The request's visible `i` tags, echoed in a plain result.
    public var inputTags: [Tag]
    /// Where responses also go (the request's `relays` tag).
    public var relays: [String]

    public init(_ request: JobRequest) {
        id = request.id
        kind = request.event.kind
        customer = request.customer
        encryption = request.encryption
        requestJSON = request.event.jsonString
        inputTags = request.encryption == nil ? request.event.tags.all(named: "i") : []
        relays = request.relays
    }
}
