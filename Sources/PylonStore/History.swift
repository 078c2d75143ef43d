import GRDB
public import PylonBasics

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// The last week at a glance, for the status page's charts (SPEC §6 `GET /api/history`): jobs per
// UTC hour and earnings per UTC day. Times are stored as fixed-width RFC 3339 text in UTC
// (`RFC3339`), so the first 13 characters name the hour and the first 10 the day.

/// Jobs per hour over the last 168 hours and earnings per day over the last 7 days.
public struct ActivityHistory: Sendable, Hashable {
    /// One hour: the jobs received in it (whatever became of them).
    public struct Hour: Sendable, Hashable {
        /// The start of the hour (UTC).
        public var start: Date
        public var jobs: Int
    }

    /// One UTC day: the msats received in it, from every source.
    public struct Day: Sendable, Hashable {
        /// Midnight UTC.
        public var start: Date
        public var msats: Int64
    }

    /// 168 hours, oldest first; the last is the hour `now` is in.
    public var jobsPerHour: [Hour]
    /// 7 days, oldest first; the last is today (UTC).
    public var earningsPerDay: [Day]

    public static let hours = 168
    public static let days = 7
}

extension PylonStore {
    /// Jobs per hour (by the time each request was received) for the 168 hours up to and
    /// including the current one, and earnings per UTC day for the 7 days up to and including
    /// today. Empty buckets are zeros; times after `now` are left out.
    public func activityHistory(now: Date = Date()) throws(PylonStoreError) -> ActivityHistory {
        let hourMs: Int64 = 3_600_000
        let dayMs: Int64 = 86_400_000
        let nowMs = RFC3339.milliseconds(now)
        func floor(_ value: Int64, to unit: Int64) -> Int64 { (value / unit - (value % unit < 0 ? 1 : 0)) * unit }
        let currentHour = floor(nowMs, to: hourMs)
        let firstHour = currentHour - Int64(ActivityHistory.hours - 1) * hourMs
        let today = floor(nowMs, to: dayMs)
        let firstDay = today - Int64(ActivityHistory.days - 1) * dayMs
        let hourKeys = (0..<ActivityHistory.hours).map { firstHour + Int64($0) * hourMs }
        let dayKeys = (0..<ActivityHistory.days).map { firstDay + Int64($0) * dayMs }
        return try read("read the activity history") { db in
            var jobs: [String: Int] = [:]
            let jobRows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT substr(received_at, 1, 13), count(*) FROM jobs WHERE received_at >= ? GROUP BY 1"),
                arguments: [RFC3339.string(milliseconds: firstHour)])
            for row in jobRows {
                var r = RowReader(row, table: "jobs")
                let hour = try r.text()
                jobs[hour] = try r.int()
            }
            var earnings: [String: Int64] = [:]
            let earningRows = try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT substr(received_at, 1, 10), sum(amount_msats) FROM earnings WHERE received_at >= ? GROUP BY 1"),
                arguments: [RFC3339.string(milliseconds: firstDay)])
            for row in earningRows {
                var r = RowReader(row, table: "earnings")
                let day = try r.text()
                earnings[day] = try r.int64()
            }
            return ActivityHistory(
                jobsPerHour: hourKeys.map { start in
                    .init(start: RFC3339.date(milliseconds: start), jobs: jobs[String(RFC3339.string(milliseconds: start).prefix(13))] ?? 0)
                },
                earningsPerDay: dayKeys.map { start in
                    .init(start: RFC3339.date(milliseconds: start), msats: earnings[String(RFC3339.string(milliseconds: start).prefix(10))] ?? 0)
                })
        }
    }
}
