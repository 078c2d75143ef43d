public import NostrCore
public import PylonBasics

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
        _ status: FeedbackStatus, extra: String? = nil, content: String = "", to request: RequestReference, amount: JobAmount? = nil,
        now: Int64
    ) throws(ResponseError) -> Event {
        let feedback = JobFeedback(
            status: status, extra: extra.map { Self.clip($0, to: 1000) }, content: content, amount: amount, request: request.id,
            customer: request.customer, encryption: request.encryption)
        let event = try sign(feedback.unsignedEvent(author: keypair, createdAt: now), what: "the feedback")
        guard event.jsonString.utf8.count <= maxEventBytes else {
            throw ResponseError(.tooLarge, "the feedback is larger than relays accept")
        }
        return event
    }

    /// The kind (request + 1000) result: the `i` tags unless encrypted (left out when they would
    /// make the event too large, or one is over the tag size limit), `request`, `e`, `p`,
    /// `amount` when priced, `encrypted` when encrypted. Output that cannot fit is an error: the
    /// caller sends `error` feedback instead of a result relays would drop.
    public func result(output: String, for request: RequestReference, amountMsats: Int64?, now: Int64) throws(ResponseError) -> Event {
        var result = JobResult(
            kind: Kind(request.kind.rawValue + 1000), content: output, request: request.id, requestJSON: request.requestJSON,
            customer: request.customer, amount: amountMsats.flatMap { $0 > 0 ? JobAmount(msats: $0) : nil }, encryption: request.encryption)
        let echo = request.encryption == nil ? request.inputs : []
        if !echo.isEmpty && echo.allSatisfy({ $0.tag.fields.allSatisfy { $0.utf8.count <= maxTagValueBytes } }) {
            result.inputs = echo
            let event = try sign(result.unsignedEvent(author: keypair, createdAt: now), what: "the result")
            if event.jsonString.utf8.count <= maxEventBytes { return event }
            result.inputs = []
        }
        let event = try sign(result.unsignedEvent(author: keypair, createdAt: now), what: "the result")
        let size = event.jsonString.utf8.count
        guard size <= maxEventBytes else {
            throw ResponseError(
                .tooLarge, "the result would be \(size) bytes, more than the \(maxEventBytes) relays accept (the output is \(output.utf8.count) bytes); ask for fewer tokens")
        }
        return event
    }

    /// Signs what a writer made; its only failure is encrypting the answer.
    private func sign(_ make: @autoclosure () throws(NostrError) -> UnsignedEvent, what: String) throws(ResponseError) -> Event {
        do {
            return try make().sign(with: keypair)
        } catch {
            throw ResponseError(.encryptionFailed, "cannot encrypt \(what) (\(error.message))")
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
    /// The request's visible inputs, echoed in a plain result.
    public var inputs: [JobInput]
    /// Where responses also go (the request's `relays` tag).
    public var relays: [String]

    public init(_ request: JobRequest) {
        id = request.id
        kind = request.event.kind
        customer = request.customer
        encryption = request.encryption
        requestJSON = request.event.jsonString
        inputs = request.encryption == nil ? request.inputs : []
        relays = request.relays
    }
}
