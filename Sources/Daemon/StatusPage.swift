import ControlProtocol
import Hummingbird
import NIOCore
import PylonBasics
import PylonStore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The status page and the JSON it reads (SPEC §6), served next to `/metrics`:
///
/// - `GET /`: one self-contained HTML page (inline CSS, JS and SVG; its Content-Security-Policy
///   lets it reach nothing but this daemon) that refreshes itself from the endpoints below;
/// - `GET /api/status`: the `StatusReport` the control socket's `Status` answers, as JSON;
/// - `GET /api/jobs?limit=N&status=S`: the newest jobs, each as `pylon jobs --json` prints it
///   (`limit` 1 to 500, default 20; `status` as `jobs --status`); a bad value is a 400 with
///   `{"error": "..."}`;
/// - `GET /api/history`: `{"jobs_per_hour": [{"start", "jobs"}] × 168, "earnings_per_day":
///   [{"day", "msats"}] × 7}`, oldest first, ending with the current UTC hour and day.
///
/// Read-only. Nothing here reads a secret: the report and the job rows hold no mnemonic, NWC URI or
/// API key, and the job rows are served without their input.
public struct StatusPage: Sendable {
    /// The running daemon's report; nil while it is still starting.
    let status: @Sendable () async -> StatusReport?
    let store: PylonStore

    init(store: PylonStore, status: @escaping @Sendable () async -> StatusReport?) {
        self.store = store
        self.status = status
    }

    static let defaultLimit = 20
    static let maxLimit = 500

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                    .contentSecurityPolicy: Self.contentSecurityPolicy, .xContentTypeOptions: "nosniff",
                ],
                body: .init(byteBuffer: ByteBuffer(string: Self.html)))
        }
        router.get("api/status") { _, _ -> Response in
            guard let report = await status() else {
                return Self.error(.serviceUnavailable, "the daemon is still starting; try again in a moment")
            }
            return Self.json(.ok, report.json.serialized)
        }
        router.get("api/jobs") { request, _ -> Response in
            let query: JobsQuery
            do throws(JobsQuery.Invalid) {
                let parameters = request.uri.queryParameters
                query = try JobsQuery(limits: parameters[values: "limit"], statuses: parameters[values: "status"])
            } catch {
                return Self.error(.badRequest, error.message)
            }
            do throws(PylonStoreError) {
                let jobs = try store.jobs(status: query.status, limit: query.limit)
                return Self.json(.ok, JSON.array(jobs.map(\.summaryJSON)).serialized)
            } catch {
                return Self.error(.internalServerError, "cannot read the jobs: \(error.message)")
            }
        }
        router.get("api/history") { _, _ -> Response in
            do throws(PylonStoreError) {
                return Self.json(.ok, Self.historyJSON(try store.activityHistory()).serialized)
            } catch {
                return Self.error(.internalServerError, "cannot read the history: \(error.message)")
            }
        }
    }

    /// The page may run its own inline script and style and fetch from this daemon, nothing else:
    /// a browser refuses any other request, whatever the data shown contains.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// `/api/history` as JSON.
    static func historyJSON(_ history: ActivityHistory) -> JSON {
        .object([
            .init(
                "jobs_per_hour",
                .array(history.jobsPerHour.map { .object([.init("start", .string(RFC3339.string(from: $0.start))), .init("jobs", .integer(Int64($0.jobs)))]) })),
            .init(
                "earnings_per_day",
                .array(history.earningsPerDay.map { .object([.init("day", .string(String(RFC3339.string(from: $0.start).prefix(10)))), .init("msats", .integer($0.msats))]) })),
        ])
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(status, JSON.object([.init("error", .string(message))]).serialized)
    }
}

/// The query of `GET /api/jobs`, checked: untrusted input from whoever can reach the port.
struct JobsQuery: Equatable {
    var limit = StatusPage.defaultLimit
    var status: JobStatus?

    struct Invalid: Error {
        let message: String
    }

    init(limit: Int = StatusPage.defaultLimit, status: JobStatus? = nil) {
        self.limit = limit
        self.status = status
    }

    /// From every value given for `limit` and for `status`.
    init(limits: [Substring], statuses: [Substring]) throws(Invalid) {
        if limits.count > 1 { throw Invalid(message: "limit is given \(limits.count) times; give it once") }
        if let text = limits.first {
            // Digits only: Int("+5") would pass, and a huge number must not read as "all".
            guard !text.isEmpty, text.count <= 6, text.allSatisfy({ $0 >= "0" && $0 <= "9" }), let value = Int(text),
                (1...StatusPage.maxLimit).contains(value)
            else {
                throw Invalid(message: "limit must be a whole number from 1 to \(StatusPage.maxLimit), got \"\(text.prefix(40))\"")
            }
            limit = value
        }
        if statuses.count > 1 { throw Invalid(message: "status is given \(statuses.count) times; give it once") }
        if let text = statuses.first {
            guard let value = JobStatus(rawValue: String(text)) else {
                throw Invalid(
                    message: "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text.prefix(40))\"")
            }
            status = value
        }
    }
}
