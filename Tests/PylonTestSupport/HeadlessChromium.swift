public import Foundation

/// Debian's `chromium` in headless mode, for tests of the status page in a real browser: it loads
/// a page, runs its scripts, and gives back the rendered DOM and every request the page made
/// (from Chromium's net log). Each run has its own profile and `HOME` in a fresh temporary
/// directory, never the real home; `timeout` bounds it and takes the browser down with SIGKILL if
/// it hangs (a child of the test process starts with SIGTERM blocked, so SIGTERM alone may not).
public struct HeadlessChromium: Sendable {
    public let executable: URL

    /// `PYLON_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on the PATH.
    public static func find() -> HeadlessChromium? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["PYLON_CHROMIUM"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? HeadlessChromium(executable: URL(fileURLWithPath: path)) : nil
        }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
                return HeadlessChromium(executable: URL(fileURLWithPath: directory + "/" + name))
            }
        }
        return nil
    }

    /// Why the browser tests are skipped when ``find()`` finds nothing.
    public static let missingReason =
        "no chromium found (install Debian's chromium: apt-get install -y chromium, or set PYLON_CHROMIUM); .ci/run installs it"

    /// One request as Chromium's net log records it.
    public struct Request: Sendable, Equatable, CustomStringConvertible {
        public let url: String
        /// The site the request was made for: the page's for the page's own requests; "null
        /// null" or another site for the browser's own background requests (updates, time).
        public let isolationKey: String
        public let initiator: String
        public var description: String { "\(url) (for \(isolationKey), from \(initiator))" }
    }

    public struct Load: Sendable {
        /// The DOM after the page's scripts ran, serialized.
        public let dom: String
        public let requests: [Request]
        public let stderr: String

        /// The requests the page loaded from `origin` made (main frame, subresources, fetches):
        /// those made for its site. The browser's own background requests are made for no site
        /// (or for Google's) and are not the page's.
        public func pageRequests(origin: String) -> [Request] {
            let site = origin.split(separator: ":").prefix(2).joined(separator: ":")
            return requests.filter { $0.isolationKey.hasPrefix(site + " ") || $0.isolationKey == site }
        }

        /// The page's requests anywhere but `origin`.
        public func outsideRequests(origin: String) -> [Request] {
            pageRequests(origin: origin).filter { !$0.url.hasPrefix(origin + "/") }
        }
    }

    /// Loads `url`, lets its scripts run for `budget` of virtual time, and returns the DOM and the
    /// requests. Host names resolve to nothing (except 127.0.0.1), so nothing leaves the machine
    /// even if the page asked.
    public func load(_ url: String, budget: Duration = .seconds(5), screenshot: URL? = nil, windowSize: (Int, Int) = (1200, 900)) throws -> Load {
        let scratch = try TestHome()
        let netLog = scratch.file("net-log.json")
        var arguments = [
            "--kill-after=5", "90", executable.path,
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--user-data-dir=\(scratch.file("profile").path)",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--log-net-log=\(netLog.path)", "--net-log-capture-mode=Default",
            "--virtual-time-budget=\(Int(budget.components.seconds * 1000 + budget.components.attoseconds / 1_000_000_000_000_000))",
        ]
        if let screenshot {
            arguments += ["--screenshot=\(screenshot.path)", "--window-size=\(windowSize.0),\(windowSize.1)"]
        } else {
            arguments.append("--dump-dom")
        }
        arguments.append(url)
        var environment = ["HOME": scratch.path, "XDG_CONFIG_HOME": scratch.file("config").path, "XDG_CACHE_HOME": scratch.file("cache").path]
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["LANG"] = "en_US.UTF-8"
        environment["TZ"] = "UTC"
        let result = try CommandResult.run(URL(fileURLWithPath: "/usr/bin/timeout"), arguments, environment: environment)
        guard result.status == 0 else { throw BrowserError(message: "chromium failed: \(result)") }
        return Load(dom: result.stdout, requests: try Self.requests(in: netLog), stderr: result.stderr)
    }

    public struct BrowserError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The URL requests of a net log (`URL_REQUEST_START_JOB` events).
    static func requests(in file: URL) throws -> [Request] {
        let data = try Data(contentsOf: file)
        guard let log = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let constants = log["constants"] as? [String: Any], let types = constants["logEventTypes"] as? [String: Int],
            let startJob = types["URL_REQUEST_START_JOB"], let events = log["events"] as? [[String: Any]]
        else { throw BrowserError(message: "the net log \(file.path) is not what Chromium writes") }
        return events.compactMap { event in
            guard event["type"] as? Int == startJob, let params = event["params"] as? [String: Any], let url = params["url"] as? String else {
                return nil
            }
            return Request(
                url: url, isolationKey: params["network_isolation_key"] as? String ?? "", initiator: params["initiator"] as? String ?? "")
        }
    }
}
