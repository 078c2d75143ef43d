public import Backends
public import NostrCore
public import PylonBasics

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The params of a job that pylon acts on; `parameters.maxTokens` reads `parameters.sampling.maxTokens`.
@dynamicMemberLookup
public struct JobParameters: Sendable, Equatable {
    public var model: String?
    /// What the backend is asked for.
    public var sampling = Sampling()
    /// Translation (5002): the target language.
    public var language: String?
    /// Summarization (5001): how long.
    public var length: String?

    public init() {}

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<Sampling, Value>) -> Value {
        get { sampling[keyPath: keyPath] }
        set { sampling[keyPath: keyPath] = newValue }
    }
}

/// What this provider serves of a NIP-90 request (SPEC §8): the inputs it can resolve and the
/// params it reads. The request itself is NostrCore's ``JobRequest``.
extension JobRequest {
    /// Whether the request names providers and we are not one of them.
    public func isAddressed(elsewhere than: PublicKey) -> Bool {
        !providers.isEmpty && !providers.contains(than)
    }

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

    /// Checks what can be checked without fetching: at least one input, known input types, ids
    /// where ids belong, params that parse.
    public func validate(allowURLInputs: Bool) throws(JobRequestError) {
        guard !inputs.isEmpty else {
            throw JobRequestError(.invalidRequest, "the request has no input (an \"i\" tag such as [\"i\", \"your prompt\", \"text\"])")
        }
        for input in inputs {
            switch input.type {
            case .event, .job:
                guard (try? EventID(hex: input.value)) != nil else {
                    throw JobRequestError(.invalidRequest, "a \(input.type.name) input must be a 64-character hex event id")
                }
            case .url:
                guard allowURLInputs else {
                    throw JobRequestError(.unsupportedInput, "this provider does not fetch url inputs; send the text itself")
                }
                guard input.value.hasPrefix("http://") || input.value.hasPrefix("https://") else {
                    throw JobRequestError(.invalidRequest, "a url input must be an http or https URL")
                }
            case .other(let name):
                throw JobRequestError(.invalidRequest, "input type \"\(name)\" is not one of text, prompt, event, job, url")
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
        for param in params {
            let name = Self.canonical(param.name)
            if first[name] == nil, let value = param.values.first { first[name] = value }
        }
        func param(_ key: String) -> String? { first[key] }
        func number(_ key: String, _ range: ClosedRange<Double>) throws(JobRequestError) -> Double? {
            guard let text = param(key) else { return nil }
            guard let value = Double(text.trimmingSpaces), value.isFinite, range.contains(value) else {
                throw JobRequestError(.invalidRequest, "param \(key) must be a number from \(range.lowerBound) to \(range.upperBound), got \"\(text.prefix(40))\"")
            }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(JobRequestError) -> Int? {
            guard let text = param(key) else { return nil }
            guard let value = Int(text.trimmingSpaces), range.contains(value) else {
                throw JobRequestError(.invalidRequest, "param \(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text.prefix(40))\"")
            }
            return value
        }
        result.model = param("model").flatMap { $0.isEmpty ? nil : $0 }
        result.maxTokens = try integer("max_tokens", 1...1_000_000)
        result.temperature = try number("temperature", 0...10)
        result.topP = try number("top_p", 0...1)
        result.topK = try integer("top_k", 0...1_000_000)
        result.frequencyPenalty = try number("frequency_penalty", -10...10)
        result.stop = params.filter { Self.canonical($0.name) == "stop" }.flatMap(\.values).filter { !$0.isEmpty }
        result.language = param("language").flatMap { $0.isEmpty ? nil : $0 }
        result.length = param("length").flatMap { $0.isEmpty ? nil : $0 }
        return result
    }
}

extension String {
    /// Without the spaces and tabs around it (a param value such as " 0.7").
    fileprivate var trimmingSpaces: Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return self[first...last]
    }
}
