public import Foundation

/// Debian's `prometheus` and `promtool` (package `prometheus`, 2.42), which the test setup installs
/// (`scripts/setup-test-peers.sh`). A missing tool is a failure that says how to install it, never
/// a skipped test.
public enum PrometheusTools {
    public struct Missing: Error, CustomStringConvertible {
        public let tool: String
        public var description: String {
            "\(tool) is not installed: run scripts/setup-test-peers.sh, or `sudo apt-get install -y --no-install-recommends prometheus` (Debian's package brings prometheus and promtool)"
        }
    }

    /// The executable on PATH (or in /usr/bin, /usr/local/bin).
    public static func find(_ tool: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: directory).appending(path: tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Missing(tool: tool)
    }

    /// Runs `promtool` with the arguments (and stdin).
    public static func promtool(_ arguments: [String], stdin: String? = nil) throws -> CommandResult {
        try CommandResult.run(find("promtool"), arguments, stdin: stdin, environment: ProcessInfo.processInfo.environment)
    }
}

/// A real Prometheus server on 127.0.0.1 for a test: a free port, its configuration and storage in
/// a temporary directory, scraping the given targets every second. Stopped when released.
public final class PrometheusProcess: @unchecked Sendable {
    public let port: Int
    public let directory: TestHome
    private let process: Process

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts Prometheus scraping `targets` ("127.0.0.1:PORT", path `/metrics`) as job `pylon` and
    /// waits until it is ready.
    public static func start(scraping targets: [String]) async throws -> PrometheusProcess {
        let server = try PrometheusProcess(targets: targets)
        guard await server.awaitReady(timeout: .seconds(30)) else {
            let log = server.log
            server.stop()
            throw Failure(description: "prometheus did not get ready on port \(server.port): \(log.suffix(3000))")
        }
        return server
    }

    private init(targets: [String]) throws {
        let executable = try PrometheusTools.find("prometheus")
        directory = try TestHome()
        port = try FreePort.next()
        let list = targets.map { "\"\($0)\"" }.joined(separator: ", ")
        let config = try directory.write(
            """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: pylon
                metrics_path: /metrics
                static_configs:
                  - targets: [\(list)]

            """, to: "prometheus.yml")
        process = Process()
        process.executableURL = executable
        process.arguments = [
            "--config.file=\(config.path)",
            "--storage.tsdb.path=\(directory.file("data").path)",
            "--web.listen-address=127.0.0.1:\(port)",
            "--log.level=warn",
        ]
        process.currentDirectoryURL = directory.url
        process.standardInput = FileHandle.nullDevice
        let logPath = directory.file("prometheus.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
    }

    deinit { stop() }

    /// What Prometheus logged.
    public var log: String { (try? String(contentsOf: directory.file("prometheus.log"), encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after 10 s; waits for the exit.
    public func stop() {
        let pid = process.processIdentifier
        guard ProcessState.isAlive(pid) else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while ProcessState.isAlive(pid) && Date() < deadline { usleep(10_000) }
        if ProcessState.isAlive(pid) { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    private func awaitReady(timeout: Duration) async -> Bool {
        await awaitCondition(timeout: timeout, interval: .milliseconds(100)) {
            guard ProcessState.isAlive(process.processIdentifier) else { return false }
            return (try? HTTPGet.get(host: "127.0.0.1", port: port, path: "/-/ready").status) == 200
        }
    }

    /// GET on Prometheus's HTTP API (`/api/v1/...`) with the parameters percent-encoded; the
    /// `data` member of a `success` answer.
    public func api(_ endpoint: String, _ parameters: [(String, String)]) throws -> Any {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = parameters.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
        let response = try HTTPGet.get(host: "127.0.0.1", port: port, path: "/api/v1/\(endpoint)?\(query)")
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
            throw Failure(description: "\(endpoint): HTTP \(response.status), not JSON: \(response.body.prefix(500))")
        }
        guard response.status == 200, object["status"] as? String == "success", let data = object["data"] else {
            throw Failure(description: "\(endpoint) \(parameters): HTTP \(response.status): \(object["errorType"] ?? "") \(object["error"] ?? "")")
        }
        return data
    }

    /// The result vector of an instant query: each sample's labels and value.
    public func query(_ expression: String) throws -> [(labels: [String: String], value: Double)] {
        let data = try api("query", [("query", expression)]) as? [String: Any]
        let result = data?["result"] as? [[String: Any]] ?? []
        return result.compactMap { sample in
            guard let labels = sample["metric"] as? [String: String], let pair = sample["value"] as? [Any],
                pair.count == 2, let text = pair[1] as? String, let value = Double(text)
            else { return nil }
            return (labels, value)
        }
    }

    /// The names of every series Prometheus holds whose name matches the regular expression.
    public func seriesNames(matching pattern: String) throws -> Set<String> {
        let series = try api("series", [("match[]", "{__name__=~\"\(pattern)\"}")]) as? [[String: String]] ?? []
        return Set(series.compactMap { $0["__name__"] })
    }
}
