import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import NostrCore
import PylonBasics
import PylonStore

/// Opens `pylon.db` for reading by a command; nil (after saying so) when it does not exist yet.
func openStore(_ paths: PylonPaths, json: Bool, empty: String) throws -> PylonStore? {
    guard FileManager.default.fileExists(atPath: paths.database.path) else {
        if json { print("[]") } else { Output.line(empty) }
        return nil
    }
    do {
        return try PylonStore.open(path: paths.database.path)
    } catch {
        throw Output.fail(error.message)
    }
}

/// `pylon events`: the journal (SPEC §7, §12).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Show the journal: everything the daemon decided, in order.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Only entries after this sequence number.", valueName: "seq"))
    var since: Int64 = 0

    @Flag(name: [.short, .long], help: "Keep printing new entries as they are written.")
    var follow = false

    @Flag(name: .long, help: "One JSON array (with --follow: one JSON object per line).")
    var json = false

    func run() async throws {
        let paths = global.paths
        guard let store = try openStore(paths, json: json && !follow, empty: "no journal yet (the daemon has not run in \(paths.runtimeDirectory.path))") else { return }
        var last = since
        func page() throws -> [JournalRecord] {
            do {
                return try store.journal(since: last, limit: 1000)
            } catch {
                throw Output.fail(error.message)
            }
        }
        if !follow {
            var all: [JournalRecord] = []
            while true {
                let batch = try page()
                if batch.isEmpty { break }
                all += batch
                last = batch[batch.count - 1].seq
            }
            if json {
                print(JSON.array(all.map(\.json)).serialized)
            } else {
                all.forEach(Self.printLine)
            }
            return
        }
        // Follow: the daemon writes from another process, so poll the database.
        while !Task.isCancelled {
            let batch = try page()
            // Written straight to the descriptor: stdio would hold lines back on a pipe.
            var text = ""
            for record in batch {
                text += (json ? record.json.serialized : Self.line(record)) + "\n"
                last = record.seq
            }
            if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
            if batch.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        }
    }

    static func printLine(_ record: JournalRecord) {
        print(line(record))
    }

    static func line(_ record: JournalRecord) -> String {
        let data = record.data.serialized
        return "\(String(record.seq).leftPadded(to: 6))  \(record.timeText)  \(record.kind.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) \(data == "{}" ? "" : data)"
    }
}

/// `pylon jobs`: the jobs this node served.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List the jobs this node served.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Only jobs in this state: queued, awaiting_payment, running, completed, failed, cancelled.")
    var status: String?

    @Option(name: [.short, .long], help: "How many, newest first.")
    var limit = 20

    @Flag(name: .long, help: "One JSON array.")
    var json = false

    func validate() throws {
        if let status, JobStatus(rawValue: status) == nil {
            throw ValidationError("--status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        guard let store = try openStore(global.paths, json: json, empty: "no jobs yet") else { return }
        let jobs: [Job]
        do {
            jobs = try store.jobs(status: status.flatMap(JobStatus.init(rawValue:)), limit: max(1, limit))
        } catch {
            throw Output.fail(error.message)
        }
        if json {
            print(JSON.array(jobs.map(\.summaryJSON)).serialized)
            return
        }
        if jobs.isEmpty { Output.line("no jobs\(status.map { " with status \($0)" } ?? "")") }
        for job in jobs {
            let tokens = job.completionTokens.map { " \($0) tokens" } ?? ""
            let duration = job.durationMs.map { " \($0) ms" } ?? ""
            let model = job.model ?? job.requestedModel ?? "-"
            Output.line("\(RFC3339.string(from: job.admittedAt))  \(job.status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(job.id.hex.prefix(16))  kind \(job.kind)  \(model)\(tokens)\(duration)\(job.error.map { "  (\($0))" } ?? "")")
        }
    }
}

/// `pylon earnings`: today, the last 7 days, all time, by source, and recent payments.
struct EarningsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "earnings", abstract: "Show what this node earned.")

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: "How many recent payments to list.")
    var limit = 10

    @Flag(name: .long, help: "One JSON document.")
    var json = false

    func run() async throws {
        let paths = global.paths
        guard FileManager.default.fileExists(atPath: paths.database.path) else {
            if json {
                print(#"{"today_msats":0,"week_msats":0,"total_msats":0,"count":0,"by_kind":{},"by_source":{},"recent":[]}"#)
            } else {
                Output.line("no earnings yet")
            }
            return
        }
        guard let store = try openStore(paths, json: false, empty: "") else { return }
        let summary: EarningsSummary
        let recent: [(earning: Earning, kind: Kind?)]
        do {
            summary = try store.earningsSummary()
            recent = try store.recentEarnings(limit: max(0, limit))
        } catch {
            throw Output.fail(error.message)
        }
        if json {
            let bySource = JSON.object(summary.bySource.sorted { $0.key.rawValue < $1.key.rawValue }.map { .init($0.key.rawValue, .integer($0.value)) })
            let byKind = JSON.object(
                summary.byKind.sorted { $0.key.rawValue < $1.key.rawValue }.map { .init(String($0.key.rawValue), .integer($0.value)) })
            let payments = JSON.array(recent.map { item in
                let earning = item.earning
                return .object([
                    .init("time", .string(RFC3339.string(from: earning.receivedAt))), .init("job_id", earning.jobID.map { .string($0.hex) } ?? .null),
                    .init("kind", item.kind.map { .integer(Int64($0.rawValue)) } ?? .null), .init("amount_msats", .integer(earning.amountMsats)),
                    .init("payment_hash", earning.paymentHash.map(JSON.string) ?? .null), .init("source", .string(earning.source.rawValue)),
                ])
            })
            print(JSON.object([
                .init("today_msats", .integer(summary.todayMsats)), .init("week_msats", .integer(summary.weekMsats)),
                .init("total_msats", .integer(summary.totalMsats)), .init("count", .integer(Int64(summary.count))),
                .init("by_kind", byKind), .init("by_source", bySource), .init("recent", payments),
            ]).serialized)
            return
        }
        Output.line("today      \(Self.sats(summary.todayMsats))")
        Output.line("7 days     \(Self.sats(summary.weekMsats))")
        Output.line("all time   \(Self.sats(summary.totalMsats)) from \(summary.count) payments")
        for (source, msats) in summary.bySource.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            Output.line("  \(source.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(Self.sats(msats))")
        }
        for (kind, msats) in summary.byKind.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            Output.line("  kind \(kind.rawValue)  \(Self.sats(msats))")
        }
        if !recent.isEmpty {
            Output.line("recent:")
            for (earning, kind) in recent {
                let job = earning.jobID.map { "  job \($0.hex.prefix(16))\(kind.map { " (kind \($0.rawValue))" } ?? "")" } ?? ""
                Output.line("  \(RFC3339.string(from: earning.receivedAt))  \(Self.sats(earning.amountMsats))  \(earning.source.rawValue)\(job)")
            }
        }
    }

    static func sats(_ msats: Int64) -> String { Sats.text(msats) }
}
