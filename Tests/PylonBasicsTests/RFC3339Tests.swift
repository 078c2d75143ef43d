import Foundation
import PylonBasics
import Testing

@Suite("RFC 3339")
struct RFC3339Tests {
    @Test("RFC 3339: milliseconds in UTC out; offsets and fractions in")
    func rfc3339() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.5)
        let text = RFC3339.string(from: date)
        #expect(text.hasSuffix(".500Z"))
        #expect(RFC3339.date(from: text) == date)
        #expect(RFC3339.date(from: "2026-01-01T01:00:00+01:00") == RFC3339.date(from: "2026-01-01T00:00:00Z"))
        #expect(RFC3339.date(from: "1970-01-01T00:00:00.25Z") == Date(timeIntervalSince1970: 0.25))
        #expect(RFC3339.date(from: "2026-13-01T00:00:00Z") == nil)
        #expect(RFC3339.date(from: "2026-01-01") == nil)
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }

    @Test("the fixed form: 24 characters, clamped to four-digit years, leap days checked")
    func fixedForm() {
        #expect(RFC3339.string(milliseconds: RFC3339.maxMilliseconds + 5) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.string(milliseconds: RFC3339.minMilliseconds - 5) == "0000-01-01T00:00:00.000Z")
        #expect(RFC3339.string(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.date(from: "2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.date(from: "2026-02-29T00:00:00Z") == nil)
        #expect(RFC3339.milliseconds(from: "2026-01-01T00:00:00.123456Z") == RFC3339.milliseconds(from: "2026-01-01T00:00:00.123Z"))
        #expect(RFC3339.date(from: "2026-01-01T00:00:00Z junk") == nil)
    }
}
