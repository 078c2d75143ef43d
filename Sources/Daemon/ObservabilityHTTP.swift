import CoreMetrics
import Foundation
import Hummingbird
public import Logging
import NIOCore
public import Prometheus
public import PylonBasics
public import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `/readyz` reports: ready, or the reasons not.
public struct Readiness: Sendable, Equatable {
    public var reasons: [String]
    public var warnings: [String]
    public var ready: Bool { reasons.isEmpty }

    public init(reasons: [String] = [], warnings: [String] = []) {
        self.reasons = reasons
        self.warnings = warnings
    }
}

/// The HTTP observability endpoints on Hummingbird (SPEC §6): `/metrics` (Prometheus text),
/// `/__health` (the seed's check), `/healthz` (liveness), `/readyz` (readiness, 503 with the
/// reasons as JSON), and with a ``StatusPage`` the page at `/` and its `/api/` endpoints.
public enum ObservabilityHTTP {
    /// Fails with a clear error when the address cannot be bound (in use, not local, no permission).
    public static func checkAvailable(host: String, port: Int) throws(DaemonError) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw DaemonError(.config, "[http].listen: cannot resolve \"\(host)\"")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw DaemonError(.addressInUse, "cannot open a socket for \(host):\(port)") }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = errno == EADDRINUSE ? "the port is already in use" : String(cString: strerror(errno))
            throw DaemonError(
                .addressInUse,
                "cannot listen for HTTP on \(host):\(port): \(reason); set [http].listen to another address, or \"\" to disable it")
        }
    }

    /// Builds the server. `readiness` is asked on every `/readyz`; `refresh` runs before each
    /// `/metrics` scrape to update gauges such as uptime and memory; `statusPage` adds `/` and
    /// `/api/status`, `/api/jobs`, `/api/history`.
    public static func makeServer(
        host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger,
        readiness: @escaping @Sendable () async -> Readiness, refresh: @escaping @Sendable () -> Void,
        statusPage: StatusPage? = nil, onListening: @escaping @Sendable () -> Void = {}
    ) -> some Service {
        let router = Router()
        statusPage?.register(on: router)
        router.get("metrics") { _, _ -> Response in
            refresh()
            var buffer = [UInt8]()
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("__health") { _, _ in "ok" }
        router.get("healthz") { _, _ -> Response in
            json(.ok, #"{"status":"ok"}"#)
        }
        router.get("readyz") { _, _ -> Response in
            let state = await readiness()
            let reasons = state.reasons.map(quote).joined(separator: ",")
            let warnings = state.warnings.map(quote).joined(separator: ",")
            return json(state.ready ? .ok : .serviceUnavailable, #"{"ready":\#(state.ready),"reasons":[\#(reasons)],"warnings":[\#(warnings)]}"#)
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "pylon"),
            onServerRunning: { _ in onListening() }, logger: httpLogger)
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// Process figures for `/metrics`: uptime and resident memory, read on each scrape.
public struct ProcessMetrics: Sendable {
    let uptime: CoreMetrics.Gauge
    let resident: CoreMetrics.Gauge
    let started = ContinuousClock.now

    public init() {
        uptime = CoreMetrics.Gauge(label: "pylon_process_uptime_seconds")
        resident = CoreMetrics.Gauge(label: "pylon_process_resident_memory_bytes")
    }

    public func refresh() {
        let elapsed = ContinuousClock.now - started
        uptime.record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        if let bytes = Self.residentBytes() { resident.record(Double(bytes)) }
    }

    /// Resident set size from /proc/self/statm (pages × page size), or the max RSS elsewhere.
    public static func residentBytes() -> Int? {
        #if os(Linux)
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
            let fields = text.split(separator: " ")
            guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
            var usage = rusage()
            getrusage(RUSAGE_SELF, &usage)
            return Int(usage.ru_maxrss)
        #endif
    }
}
