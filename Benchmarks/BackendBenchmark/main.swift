// backend-bench: time to first token and tokens/s through pylon's backend layer, against the same
// server called directly by a minimal streaming client, in one run, interleaved.
//
//   swift build -c release --scratch-path .build-release --product backend-bench
//   .build-release/release/backend-bench                       # in-process mock server, both APIs
//   .build-release/release/backend-bench --url http://127.0.0.1:8080 --api openai --model m
//
// Options (or environment variables PYLON_BENCH_URL, PYLON_BENCH_API, PYLON_BENCH_MODEL):
//   --url URL          a running server instead of the mock
//   --api ollama|llamacpp|openai   the API at --url (default openai)
//   --model NAME       the model to ask for (default: the server's first)
//   --requests N       measured requests per side and scenario (default 200)
//   --tokens N         tokens per answer from the mock (default 256)
//
// "pylon stream" is the full path a job takes: BackendRegistry.stream(request, on: route), i.e. the
// backend's NDJSON/SSE parsing, the watchdog, metrics and the AsyncThrowingStream to the consumer;
// "pylon callback" is BackendRegistry.generate(request, on: route, onToken:), the same without the
// stream (tokens are handed over on the connection's event loop, as the body arrives).
// "direct" is one HTTP client reading the body, splitting lines and decoding each with JSONDecoder.
// Target (SPEC §11): pylon adds < 2 ms to the first token and < 2% to tokens/s.

import AsyncHTTPClient
import Backends
import Logging
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import PylonTestSupport
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum API: String {
    /// Ollama's /api/chat (NDJSON).
    case ollama
    /// llama.cpp's llama-server: /health, /v1/chat/completions (SSE).
    case llamacpp
    /// Any OpenAI-compatible server: /v1/chat/completions (SSE), no /health.
    case openai
}

struct Options {
    var url: String?
    var api = API.openai
    var model: String?
    var requests = 200
    var tokens = 256

    static func parse() -> Options {
        var options = Options()
        let environment = ProcessInfo.processInfo.environment
        options.url = environment["PYLON_BENCH_URL"]
        if let api = environment["PYLON_BENCH_API"].flatMap(API.init(rawValue:)) { options.api = api }
        options.model = environment["PYLON_BENCH_MODEL"]
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            let value = arguments.next()
            switch argument {
            case "--url": options.url = value
            case "--api": options.api = value.flatMap(API.init(rawValue:)) ?? options.api
            case "--model": options.model = value
            case "--requests": options.requests = value.flatMap(Int.init) ?? options.requests
            case "--tokens": options.tokens = value.flatMap(Int.init) ?? options.tokens
            default:
                print("unknown option \(argument); see the comment at the top of main.swift")
                exit(2)
            }
        }
        return options
    }
}

/// One measured request. `tokensPerSecond` is the decode rate after the first token; with a
/// zero-delay server, tokens arrive in bursts and that rate scatters, so the whole request's
/// duration (`total`) is printed too.
struct Sample {
    var firstToken: Duration
    var total: Duration
    var tokens: Int

    /// Output tokens per second after the first one arrived (the decode rate).
    var tokensPerSecond: Double {
        let decode = (total - firstToken).seconds
        return decode > 0 ? Double(max(tokens - 1, 1)) / decode : 0
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    var milliseconds: Double { seconds * 1000 }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

// MARK: The direct client

/// What a hand-written client for the server does: POST, read the body as it comes, split lines,
/// decode each JSON line, stop at the end marker.
struct DirectClient {
    let client: HTTPClient
    let url: String
    let api: API
    /// Don't decode: a line with non-empty `"content":"…` counts as a token (a byte scan),
    /// and the body's end ends the answer. Less work than a real client can do: a floor.
    var raw = false

    struct OllamaLine: Decodable {
        struct Message: Decodable { let content: String? }
        let message: Message?
        let done: Bool?
    }

    struct OpenAIChunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable { let content: String? }
            let delta: Delta?
        }
        let choices: [Choice]?
    }

    func run(model: String, prompt: String, maxTokens: Int) async throws -> Sample {
        var request = HTTPClientRequest(url: url + (api == .ollama ? "/api/chat" : "/v1/chat/completions"))
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        let body: String
        switch api {
        case .ollama:
            body = #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(prompt)"}],"stream":true,"options":{"num_predict":\#(maxTokens)}}"#
        case .llamacpp, .openai:
            body = #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(prompt)"}],"stream":true,"max_tokens":\#(maxTokens)}"#
        }
        request.body = .bytes(ByteBuffer(string: body))
        let decoder = JSONDecoder()
        let start = ContinuousClock.now
        var first: ContinuousClock.Instant?
        var tokens = 0
        var done = false
        let response = try await client.execute(request, timeout: .seconds(60))
        guard response.status == .ok else { throw BenchError(description: "direct: HTTP \(response.status.code)") }
        var pending = ByteBuffer()
        for try await var chunk in response.body {
            if done { continue }
            pending.writeBuffer(&chunk)
            while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                guard var line = pending.readSlice(length: newline - pending.readerIndex) else { break }
                pending.moveReaderIndex(forwardBy: 1)
                if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
                if raw {
                    // A line with `"content":"` followed by anything but `"` counts, until the body ends.
                    if hasContent(line) {
                        tokens += 1
                        if first == nil { first = .now }
                    }
                    continue
                }
                var content: String?
                switch api {
                case .ollama:
                    guard line.readableBytes > 0 else { continue }
                    let decoded = try decoder.decode(OllamaLine.self, from: line)
                    content = decoded.message?.content
                    if decoded.done == true { done = true }
                case .llamacpp, .openai:
                    guard line.readableBytesView.starts(with: "data: ".utf8) else { continue }
                    let data = line.getSlice(at: line.readerIndex + 6, length: line.readableBytes - 6) ?? ByteBuffer()
                    if data.readableBytesView.elementsEqual("[DONE]".utf8) {
                        done = true
                        continue
                    }
                    content = try decoder.decode(OpenAIChunk.self, from: data).choices?.first?.delta?.content
                }
                if let content, !content.isEmpty {
                    tokens += 1
                    if first == nil { first = .now }
                }
            }
            pending.discardReadBytes()
        }
        let end = ContinuousClock.now
        guard let first else { throw BenchError(description: "direct: no tokens") }
        return Sample(firstToken: first - start, total: end - start, tokens: tokens)
    }
}

private let contentKey = Array(#""content":"#.utf8)

/// Whether the line holds `"content":` then (after optional spaces) a non-empty string.
func hasContent(_ line: ByteBuffer) -> Bool {
    line.withUnsafeReadableBytes { bytes in
        let count = bytes.count
        let keyCount = contentKey.count
        var index = 0
        while index + keyCount < count {
            if bytes[index] == UInt8(ascii: "\""), bytes[index + 1] == UInt8(ascii: "c") {
                var matches = true
                for offset in 2..<keyCount where bytes[index + offset] != contentKey[offset] {
                    matches = false
                    break
                }
                if matches {
                    var value = index + keyCount
                    while value < count, bytes[value] == UInt8(ascii: " ") { value += 1 }
                    return value + 1 < count && bytes[value] == UInt8(ascii: "\"") && bytes[value + 1] != UInt8(ascii: "\"")
                }
            }
            index += 1
        }
        return false
    }
}

// MARK: Through pylon

func runPylon(_ registry: BackendRegistry, route: BackendRoute, prompt: String, maxTokens: Int) async throws -> Sample {
    let start = ContinuousClock.now
    var first: ContinuousClock.Instant?
    var tokens = 0
    for try await event in registry.stream(InferenceRequest(prompt: prompt, sampling: Sampling(maxTokens: maxTokens)), on: route) {
        if case .token = event {
            tokens += 1
            if first == nil { first = .now }
        }
    }
    let end = ContinuousClock.now
    guard let first else { throw BenchError(description: "pylon: no tokens") }
    return Sample(firstToken: first - start, total: end - start, tokens: tokens)
}

/// The same through the callback API (`generate(_:on:onToken:)`): no hop between tasks per token.
func runPylonCallback(_ registry: BackendRegistry, route: BackendRoute, prompt: String, maxTokens: Int) async throws -> Sample {
    let start = ContinuousClock.now
    let first = FirstToken()
    let summary = try await registry.generate(InferenceRequest(prompt: prompt, sampling: Sampling(maxTokens: maxTokens)), on: route) { _ in
        first.mark()
    }
    let end = ContinuousClock.now
    guard let at = first.at else { throw BenchError(description: "pylon: no tokens") }
    return Sample(firstToken: at - start, total: end - start, tokens: summary.completionTokens)
}

/// When the first token came; written by the reading task, read after the call.
final class FirstToken: Sendable {
    private let instant = Mutex<ContinuousClock.Instant?>(nil)

    func mark() {
        instant.withLock { if $0 == nil { $0 = .now } }
    }

    var at: ContinuousClock.Instant? { instant.withLock { $0 } }
}

// MARK: Statistics

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
    return sorted[index]
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double, _ digits: Int) -> String {
    var factor = 1.0
    for _ in 0..<digits { factor *= 10 }
    let rounded = (value * factor).rounded() / factor
    return "\(rounded)"
}

func report(scenario: String, direct: [Sample], others: [(String, [Sample])], floor: [Sample]) {
    let directTTFT = direct.map(\.firstToken.milliseconds)
    let directRate = direct.map(\.tokensPerSecond)
    print("")
    print("== \(scenario): \(direct.count) requests per side, \(direct.first?.tokens ?? 0) tokens each")
    print(
        pad("", 16) + pad("TTFT p50 ms", 13) + pad("TTFT p99 ms", 13) + pad("tok/s p50", 12) + pad("tok/s p1", 12)
            + pad("total p50 ms", 13)
    )
    for (name, samples) in [("direct", direct)] + others + [("direct, no JSON", floor)] {
        let ttft = samples.map(\.firstToken.milliseconds)
        let rate = samples.map(\.tokensPerSecond)
        let total = samples.map(\.total.milliseconds)
        print(
            pad(name, 16) + pad(format(percentile(ttft, 0.5), 3), 13) + pad(format(percentile(ttft, 0.99), 3), 13)
                + pad(format(percentile(rate, 0.5), 0), 12) + pad(format(percentile(rate, 0.01), 0), 12)
                + pad(format(percentile(total, 0.5), 3), 13)
        )
    }
    for (name, samples) in others {
        let addedTTFT = percentile(samples.map(\.firstToken.milliseconds), 0.5) - percentile(directTTFT, 0.5)
        let rateChange = (percentile(samples.map(\.tokensPerSecond), 0.5) / max(percentile(directRate, 0.5), 1e-9) - 1) * 100
        let totalChange =
            (percentile(samples.map(\.total.milliseconds), 0.5) / max(percentile(direct.map(\.total.milliseconds), 0.5), 1e-9) - 1)
            * 100
        let floorTTFT = percentile(samples.map(\.firstToken.milliseconds), 0.5) - percentile(floor.map(\.firstToken.milliseconds), 0.5)
        let floorRate = (percentile(samples.map(\.tokensPerSecond), 0.5) / max(percentile(floor.map(\.tokensPerSecond), 0.5), 1e-9) - 1) * 100
        print(
            "overhead of \(name): first token \(format(addedTTFT, 3)) ms (target < 2 ms: \(addedTTFT < 2 ? "met" : "MISSED")), "
                + "tokens/s \(format(rateChange, 2))% (target > -2%: \(rateChange > -2 ? "met" : "MISSED")), "
                + "whole request \(format(totalChange, 2))%; "
                + "against the no-JSON floor: \(format(floorTTFT, 3)) ms, \(format(floorRate, 2))%"
        )
    }
}

// MARK: Running a scenario

func measure(
    scenario: String,
    url: String,
    api: API,
    model requestedModel: String?,
    requests: Int,
    maxTokens: Int
) async throws {
    let configuration = BackendRegistry.Configuration(
        preference: [api.rawValue],
        ollamaURL: api == .ollama ? url : "",
        llamacppURL: api == .llamacpp ? url : "",
        openaiURL: api == .openai ? url : ""
    )
    var logger = Logger(label: "pylon.backends")
    logger.logLevel = .warning
    let registry = BackendRegistry(configuration: configuration, logger: logger)
    let httpConfiguration = BackendRegistry.httpClientConfiguration(configuration.timeouts)
    try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { client in
        do {
            let status = await registry.detectNow()
            guard let backend = status.first, backend.state == .ready else {
                throw BenchError(description: "the backend at \(url) is not ready: \(status.first?.lastError ?? "?")")
            }
            let route = try registry.route(model: requestedModel)
            let direct = DirectClient(client: client, url: url, api: api)
            let rawDirect = DirectClient(client: client, url: url, api: api, raw: true)
            let prompt = "the quick brown fox jumps over the lazy dog"
            // Warm up both paths (connections, caches).
            for _ in 0..<max(5, requests / 10) {
                _ = try await direct.run(model: route.model, prompt: prompt, maxTokens: maxTokens)
                _ = try await runPylon(registry, route: route, prompt: prompt, maxTokens: maxTokens)
                _ = try await runPylonCallback(registry, route: route, prompt: prompt, maxTokens: maxTokens)
                _ = try await rawDirect.run(model: route.model, prompt: prompt, maxTokens: maxTokens)
            }
            var directSamples: [Sample] = []
            var streamSamples: [Sample] = []
            var callbackSamples: [Sample] = []
            var rawSamples: [Sample] = []
            for index in 0..<requests {
                // Rotate which side goes first, so drift hits all alike.
                for turn in 0..<4 {
                    switch (index + turn) % 4 {
                    case 3:
                        rawSamples.append(try await rawDirect.run(model: route.model, prompt: prompt, maxTokens: maxTokens))
                    case 0:
                        directSamples.append(try await direct.run(model: route.model, prompt: prompt, maxTokens: maxTokens))
                    case 1:
                        streamSamples.append(try await runPylon(registry, route: route, prompt: prompt, maxTokens: maxTokens))
                    default:
                        callbackSamples.append(
                            try await runPylonCallback(registry, route: route, prompt: prompt, maxTokens: maxTokens)
                        )
                    }
                }
            }
            report(
                scenario: "\(scenario) [\(api.rawValue) API, model \(route.model)]",
                direct: directSamples,
                others: [("pylon stream", streamSamples), ("pylon callback", callbackSamples)],
                floor: rawSamples
            )
        } catch {
            await registry.shutdown()
            throw error
        }
        await registry.shutdown()
    }
}

let options = Options.parse()
do {
    if let url = options.url {
        try await measure(
            scenario: "server at \(url)",
            url: url,
            api: options.api,
            model: options.model,
            requests: options.requests,
            maxTokens: options.tokens
        )
    } else {
        let server = MockLLMServer()
        server.update { $0.tokenCount = options.tokens }
        try await server.start()
        do {
            for api in [API.ollama, .llamacpp] {
                server.update {
                    $0.firstTokenDelay = .zero
                    $0.perTokenDelay = .zero
                }
                try await measure(
                    scenario: "mock, zero delay (pure overhead)",
                    url: server.baseURL,
                    api: api,
                    model: nil,
                    requests: options.requests,
                    maxTokens: options.tokens
                )
                // A fast local model: 20 ms to the first token, then 1 ms per token (1000 tok/s).
                server.update {
                    $0.firstTokenDelay = .milliseconds(20)
                    $0.perTokenDelay = .milliseconds(1)
                }
                try await measure(
                    scenario: "mock, 20 ms first token + 1 ms/token",
                    url: server.baseURL,
                    api: api,
                    model: nil,
                    requests: max(options.requests / 4, 20),
                    maxTokens: min(options.tokens, 128)
                )
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
} catch {
    print("backend-bench: \(error)")
    exit(1)
}
