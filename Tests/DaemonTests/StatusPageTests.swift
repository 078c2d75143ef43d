import Foundation
import Testing

@testable import Daemon

@Suite("status page: the query of /api/jobs and the page's own rules")
struct StatusPageQueryTests {
    @Test("no query gives the newest 20; limit and status are read when valid")
    func valid() throws {
        let none = try JobsQuery(limits: [], statuses: [])
        #expect(none.limit == 20 && none.status == nil)
        #expect(try JobsQuery(limits: ["1"], statuses: []).limit == 1)
        #expect(try JobsQuery(limits: ["500"], statuses: []).limit == 500)
        let both = try JobsQuery(limits: ["007"], statuses: ["failed"])
        #expect(both.limit == 7 && String(describing: both.status.map { String(describing: $0) } ?? "") == "failed")
    }

    @Test(
        "a bad limit is refused with a message naming the parameter and the value",
        arguments: ["", "0", "501", "-1", "+5", "abc", "1.5", "99999999999999999999", " 5", "0x10"])
    func badLimit(_ value: String) {
        #expect {
            try JobsQuery(limits: [Substring(value)], statuses: [])
        } throws: { error in
            guard let invalid = error as? JobsQuery.Invalid else { return false }
            return invalid.message.contains("limit must be a whole number from 1 to 500") && invalid.message.contains("\"\(value.prefix(40))\"")
        }
    }

    @Test("a repeated limit, an unknown status or a repeated status is refused")
    func otherErrors() {
        #expect(throws: JobsQuery.Invalid.self) { try JobsQuery(limits: ["5", "6"], statuses: []) }
        #expect {
            try JobsQuery(limits: [], statuses: ["done"])
        } throws: { error in
            (error as? JobsQuery.Invalid)?.message.contains("status must be one of queued, awaiting_payment, running, completed, failed, cancelled") == true
        }
        #expect(throws: JobsQuery.Invalid.self) { try JobsQuery(limits: [], statuses: ["failed", "completed"]) }
    }

    @Test("the page loads nothing from elsewhere: no external URL, and a policy that allows only this origin")
    func selfContained() {
        let html = StatusPage.html
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        #expect(!html.contains("https://"))
        #expect(!html.contains("src=\""), "no script, image or frame source")
        #expect(!html.contains("@import") && !html.contains("url("))
        #expect(html.contains("id=\"state\"") && html.contains("data-relay-url") && html.contains("data-job-id"))
        #expect(StatusPage.contentSecurityPolicy.hasPrefix("default-src 'none'"))
        #expect(StatusPage.contentSecurityPolicy.contains("connect-src 'self'"))
    }
}
