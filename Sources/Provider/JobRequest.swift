import Foundation
public import NostrCore

/// One `i` tag of a job request.
public struct JobInput: Sendable, Hashable {
    public enum InputType: String, Sendable, Hashable {
        /// The literal value (the registry's `prompt` means the same).
        case text
        /// A Nostr event id, fetched from the relays.
        case event
        /// The output of another job (chaining): the id of its request.
        case job
        /// Something to fetch over HTTP (off unless `allow_url_inputs`).
        case url
    }

    public var value: String
    public var type: InputType
    /// Where to look for an `event` or `job` input ("" for none).
    public var relay: String
    public var marker: String

    public init(value: String, type: InputType, relay: String = "", marker: String = "") {
        self.value = value
        self.type = type
        self.relay = relay
        self.marker = marker
    }
}

/// Why a request cannot be served as it is; the message is for the customer.
public struct JobRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The metric and journal reason (`invalid_request`, `undecryptable`, `unsupported_input`).
    public let reason: String
    public let message: String
    public var description: String { message }

    init(_ reason: String, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// A NIP-90 job request read from an event (SPEC §8): inputs, params, bid, relays, targets,
/// decrypted when it was encrypted.
public struct JobRequest: Sendable {
    public let event: Event
    public var inputs: [JobInput]
    /// Params in order; each value is the tag's fields after the name (usually one).
    public var params: [(key: String, values: [String])]
    public var bidMsats: Int64?
    /// The request's `relays` tag: where responses also go.
    public var relays: [String]
    /// The providers the request names in `p` tags (empty: anyone may serve it).
    public var providers: [PublicKey]
    /// The requested output MIME type, if any.
    public var output: String?
    /// Set when the request was encrypted to us.
    public var encryption: EncryptionScheme?

    public var id: EventID { event.id }
    public var customer: PublicKey { event.pubkey }

    /// A param name as compared: `top_k` and `top-k` (and `top_p`/`top-p`) are one name. Lower
    /// case with `-` as `_`, in one pass over the bytes (this runs for every param of every
    /// request; Foundation's string replacement costs more than the rest of admission).
    static func canonical(_ key: String) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "-") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            return key
        }
        return String(decoding: key.utf8.map { byte in
            byte == UInt8(ascii: "-") ? UInt8(ascii: "_") : (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
        }, as: UTF8.self)
    }

    /// Whether the request names providers and we are not one of them.
    public func isAddressed(elsewhere than: PublicKey) -> Bool {
        !providers.isEmpty && !providers.contains(than)
    }

    /// Reads the visible tags. An encrypted request keeps its inputs and params in `content`: call
    /// ``decrypt(with:)`` next.
    public init(event: Event) {
        self.event = event
        inputs = []
        params = []
        relays = []
        providers = []
        for tag in event.tags {
            let fields = tag.fields
            switch tag.name {
            case "p":
                if let value = tag.value, let key = try? PublicKey(hex: value) { providers.append(key) }
            case "bid":
                if let value = tag.value, let amount = Int64(value), amount >= 0 { bidMsats = amount }
            case "relays":
                relays += fields.dropFirst().filter { !$0.isEmpty }
            case "output":
                output = tag.value
            case "encrypted":
                encryption = EncryptionScheme.detect(event.content)
            default:
                break
            }
        }
        if encryption == nil { readDataTags(event.tags) }
    }

    /// Whether the request is encrypted (`encrypted` tag) and still needs decrypting.
    public var isEncrypted: Bool { encryption != nil }

    /// Decrypts an encrypted request's content (a JSON array of `i` and `param` tags) with our
    /// key and reads its tags.
    public mutating func decrypt(with secretKey: SecretKey) throws(JobRequestError) {
        guard let scheme = encryption else { return }
        let plaintext: String
        do {
            plaintext = try scheme.decrypt(event.content, secretKey: secretKey, peer: event.pubkey)
        } catch {
            throw JobRequestError("undecryptable", "the request is marked encrypted but does not decrypt with this provider's key (\(scheme.rawValue)): \(error.message)")
        }
        guard let json = try? JSON.parse(plaintext), let array = json.arrayValue else {
            throw JobRequestError("undecryptable", "the decrypted request is not a JSON array of tags")
        }
        var tags: [Tag] = []
        for element in array {
            guard let fields = element.arrayValue?.compactMap(\.stringValue), fields.count == element.arrayValue?.count, !fields.isEmpty else {
                throw JobRequestError("undecryptable", "the decrypted request holds something other than tags (arrays of strings)")
            }
            tags.append(Tag(fields))
        }
        readDataTags(tags)
        // Tags such as `relays` or `bid` may travel inside the encrypted part too.
        for tag in tags {
            switch tag.name {
            case "bid": if let value = tag.value, let amount = Int64(value), amount >= 0 { bidMsats = amount }
            case "relays": relays += tag.fields.dropFirst().filter { !$0.isEmpty }
            case "output": output = tag.value
            default: break
            }
        }
    }

    private mutating func readDataTags(_ tags: [Tag]) {
        for tag in tags {
            let fields = tag.fields
            switch tag.name {
            case "i" where fields.count >= 2:
                let typeName = fields.count >= 3 ? fields[2] : "text"
                let type: JobInput.InputType? =
                    switch typeName {
                    case "text", "prompt", "": .text
                    case "event": .event
                    case "job": .job
                    case "url": .url
                    default: nil
                    }
                // An unknown type is kept as text so the check below can name it.
                inputs.append(
                    JobInput(
                        value: fields[1], type: type ?? .text, relay: fields.count >= 4 ? fields[3] : "",
                        marker: type == nil ? "unknown-type:\(typeName)" : (fields.count >= 5 ? fields[4] : "")))
            case "param" where fields.count >= 3:
                params.append((fields[1], Array(fields.dropFirst(2))))
            default:
                break
            }
        }
    }

    /// Checks what can be checked without fetching: at least one input, known input types, ids
    /// where ids belong, params that parse.
    public func validate(allowURLInputs: Bool) throws(JobRequestError) {
        guard !inputs.isEmpty else {
            throw JobRequestError("invalid_request", "the request has no input (an \"i\" tag such as [\"i\", \"your prompt\", \"text\"])")
        }
        for input in inputs {
            if input.marker.hasPrefix("unknown-type:") {
                throw JobRequestError(
                    "invalid_request", "input type \"\(input.marker.dropFirst("unknown-type:".count))\" is not one of text, prompt, event, job, url")
            }
            switch input.type {
            case .event, .job:
                guard (try? EventID(hex: input.value)) != nil else {
                    throw JobRequestError("invalid_request", "a \(input.type.rawValue) input must be a 64-character hex event id")
                }
            case .url:
                guard allowURLInputs else {
                    throw JobRequestError("unsupported_input", "this provider does not fetch url inputs; send the text itself")
                }
                guard input.value.hasPrefix("http://") || input.value.hasPrefix("https://") else {
                    throw JobRequestError("invalid_request", "a url input must be an http or https URL")
                }
            case .text:
                break
            }
        }
        _ = try parameters()
    }

    /// The inference parameters the request sets (SPEC §8), parsed; a malformed value is an error
    /// naming it rather than a silent default.
    public func parameters() throws(JobRequestError) -> JobParameters {
        var result = JobParameters()
        // Each name once, canonical: the first value of each (a repeated `stop` is read below).
        var first: [String: String] = [:]
        for (key, values) in params {
            let name = Self.canonical(key)
            if first[name] == nil, let value = values.first { first[name] = value }
        }
        func param(_ key: String) -> String? { first[key] }
        func number(_ key: String, _ range: ClosedRange<Double>) throws(JobRequestError) -> Double? {
            guard let text = param(key) else { return nil }
            guard let value = Double(text.trimmingSpaces), value.isFinite, range.contains(value) else {
                throw JobRequestError("invalid_request", "param \(key) must be a number from \(range.lowerBound) to \(range.upperBound), got \"\(text.prefix(40))\"")
            }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(JobRequestError) -> Int? {
            guard let text = param(key) else { return nil }
            guard let value = Int(text.trimmingSpaces), range.contains(value) else {
                throw JobRequestError("invalid_request", "param \(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text.prefix(40))\"")
            }
            return value
        }
        result.model = param("model").flatMap { $0.isEmpty ? nil : $0 }
        result.maxTokens = try integer("max_tokens", 1...1_000_000)
        result.temperature = try number("temperature", 0...10)
        result.topP = try number("top_p", 0...1)
        result.topK = try integer("top_k", 0...1_000_000)
        result.frequencyPenalty = try number("frequency_penalty", -10...10)
        result.stop = params.filter { Self.canonical($0.key) == "stop" }.flatMap(\.values).filter { !$0.isEmpty }
        result.language = param("language").flatMap { $0.isEmpty ? nil : $0 }
        result.length = param("length").flatMap { $0.isEmpty ? nil : $0 }
        return result
    }
}

/// The params of a job that pylon acts on.
public struct JobParameters: Sendable, Equatable {
    public var model: String?
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var frequencyPenalty: Double?
    public var stop: [String] = []
    /// Translation (5002): the target language.
    public var language: String?
    /// Summarization (5001): how long.
    public var length: String?

    public init() {}
}

extension String {
    /// Without the spaces and tabs around it (a param value such as " 0.7").
    fileprivate var trimmingSpaces: Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return self[first...last]
    }
}
