import Foundation
import NostrCore
import PylonBasics
import PylonTestSupport
import Testing

@testable import PylonStore

@Suite("Activity history: jobs per hour, earnings per day (the status page's charts)")
struct HistoryTests {
    @Test("168 hourly buckets end with the current UTC hour; jobs before the window or in the future are left out")
    func jobsPerHour() throws {
        // Given jobs received 10 minutes into the current hour, 2 hours before it, at the start of
        // the window's first hour, an hour before the window, and in the future
        let fixture = try Fixture()
        let store = fixture.store
        let start = TestClock.start  // 15:00:00 UTC
        let times: [TimeInterval] = [10 * 60, 12 * 60, -2 * 3600, -167 * 3600, -168 * 3600, 2 * 3600]
        for (n, offset) in times.enumerated() {
            try store.admit(newJob(request("job \(n)"), receivedAt: start.addingTimeInterval(offset)))
        }
        // When the history is read half an hour into the current hour
        let history = try store.activityHistory(now: start.addingTimeInterval(30 * 60))
        // Then
        #expect(history.jobsPerHour.count == 168)
        #expect(RFC3339.string(from: history.jobsPerHour[0].start) == "2026-11-22T16:00:00.000Z")
        #expect(RFC3339.string(from: history.jobsPerHour[167].start) == "2026-11-29T15:00:00.000Z")
        #expect(history.jobsPerHour[167].jobs == 2)
        #expect(history.jobsPerHour[165].jobs == 1)
        #expect(history.jobsPerHour[0].jobs == 1)
        #expect(history.jobsPerHour.map(\.jobs).reduce(0, +) == 4, "the job before the window and the future one are not counted")
        // Buckets are consecutive hours.
        for (earlier, later) in zip(history.jobsPerHour, history.jobsPerHour.dropFirst()) {
            #expect(later.start.timeIntervalSince(earlier.start) == 3600)
        }
    }

    @Test("7 daily buckets end with today (UTC) and sum every source; older earnings are left out")
    func earningsPerDay() throws {
        // Given tips today, 6 days ago (the window's first day) and 7 days ago
        let fixture = try Fixture()
        let store = fixture.store
        let start = TestClock.start
        fixture.clock.set(start.addingTimeInterval(-7 * 86_400))
        try store.recordEarning(NewEarning(amountMsats: 9_000, source: .tip))
        fixture.clock.set(start.addingTimeInterval(-6 * 86_400 - 14 * 3600))  // 01:00 on the first day
        try store.recordEarning(NewEarning(amountMsats: 2_000, source: .tip))
        fixture.clock.set(start)
        try store.recordEarning(NewEarning(amountMsats: 1_000, source: .tip))
        try store.recordEarning(NewEarning(amountMsats: 500, source: .zap))
        // When
        let history = try store.activityHistory(now: start.addingTimeInterval(3600))
        // Then
        #expect(history.earningsPerDay.map { RFC3339.string(from: $0.start).prefix(10) } == [
            "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29",
        ])
        #expect(history.earningsPerDay.map(\.msats) == [2_000, 0, 0, 0, 0, 0, 1_500])
    }

    @Test("an empty store gives zeros, not an error")
    func empty() throws {
        let fixture = try Fixture()
        let history = try fixture.store.activityHistory(now: TestClock.start)
        #expect(history.jobsPerHour.count == 168 && history.jobsPerHour.allSatisfy { $0.jobs == 0 })
        #expect(history.earningsPerDay.count == 7 && history.earningsPerDay.allSatisfy { $0.msats == 0 })
    }
}
