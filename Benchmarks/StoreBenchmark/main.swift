// Store benchmark: the provider's hot path through PylonStore (admit, start, complete, and the
// dedupe lookup every inbound request makes; and a job admitted with a slot free, whose admission
// records its start), on a WAL file in a temporary folder, next to the floor: three bare one-row
// GRDB write transactions per job on the same kind of file.
//
//   swift build --product store-bench && .build/debug/store-bench [--jobs 2000] [--rounds 3]
//   swift build -c release --product store-bench && .build/release/store-bench
//
// Events are signed before timing. Rounds alternate pylon and the floor so a busy machine hits
// both alike. Printed per operation, over all rounds: wall-clock p50 and p99, and the calling
// thread's CPU time p50 (GRDB runs statements on the calling thread), which a loaded 2-core
// machine disturbs less than wall time; all in µs.
import Foundation
import GRDB
import NostrCore
import PylonBasics
import PylonStore

var jobsPerRound = 2000
var rounds = 3
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--jobs": jobsPerRound = arguments.next().flatMap(Int.init) ?? jobsPerRound
    case "--rounds": rounds = arguments.next().flatMap(Int.init) ?? rounds
    default:
        print("usage: store-bench [--jobs N] [--rounds N]")
        exit(2)
    }
}

let clock = ContinuousClock()

/// A moment in wall time and in this thread's CPU time.
struct Stamp {
    let wall: ContinuousClock.Instant
    let cpu: Double

    static var now: Stamp {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Stamp(wall: clock.now, cpu: Double(spec.tv_sec) * 1e6 + Double(spec.tv_nsec) / 1e3)
    }
}

/// Wall and CPU samples of one operation.
struct Samples {
    var wall: [Double] = []
    var cpu: [Double] = []

    mutating func add(_ from: Stamp, _ to: Stamp) {
        wall.append(microseconds(to.wall - from.wall))
        cpu.append(to.cpu - from.cpu)
    }
}

func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "store-bench-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

// A typical NIP-90 text request, signed once per job before timing.
let customer = Keypair.generate()
func makeRequests(_ count: Int, round: Int) -> [Event] {
    (0..<count).map { i in
        UnsignedEvent(
            pubkey: customer.publicKey, createdAt: 1_700_000_000 + Int64(i), kind: 5050,
            tags: [
                ["i", "Question \(round)-\(i): what is the capital of France? Answer in one sentence.", "text"],
                ["param", "model", "llama3.2"], ["param", "max_tokens", "256"], ["relays", "wss://relay.example.com"],
            ],
            content: ""
        ).sign(with: customer)
    }
}

var admit = Samples()
var start = Samples()
var complete = Samples()
var seen = Samples()
var perJob = Samples()
var admitStarting = Samples()
var perJobStarting = Samples()
var floor = Samples()
let resultID = EventID(Bytes32.zero)

for round in 0..<rounds {
    let requests = makeRequests(jobsPerRound, round: round)
    // pylon
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try PylonStore.open(path: folder + "/pylon.db")
    func completeJob(_ event: Event, in store: PylonStore) throws {
        try store.complete(
            jobID: event.id, JobCompletion(resultEventID: resultID, promptTokens: 20, completionTokens: 12, outputBytes: 40, durationMs: 3))
    }
    func newJob(_ event: Event) -> NewJob {
        NewJob(
            request: event, requestedModel: "llama3.2", input: "what is the capital of France?", inputBytes: 60,
            params: .object([.init("model", .string("llama3.2")), .init("max_tokens", .integer(256))]),
            relays: ["wss://relay.example.com"], receivedAt: Date())
    }
    for event in requests {
        let t0 = Stamp.now
        let duplicate = try store.hasProcessed(event.id)
        let t1 = Stamp.now
        precondition(!duplicate)
        try store.admit(newJob(event))
        let t2 = Stamp.now
        try store.start(jobID: event.id, model: "llama3.2", backend: "ollama")
        let t3 = Stamp.now
        try completeJob(event, in: store)
        let t4 = Stamp.now
        seen.add(t0, t1)
        admit.add(t1, t2)
        start.add(t2, t3)
        complete.add(t3, t4)
        perJob.add(t1, t4)
    }
    try store.close()

    // pylon, a job that has a slot when it is admitted: admission records the start too.
    let starting = temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: starting) }
    let startingStore = try PylonStore.open(path: starting + "/pylon.db")
    for event in makeRequests(jobsPerRound, round: rounds + round) {
        let t0 = Stamp.now
        try startingStore.admit(newJob(event), startingOn: JobStart(model: "llama3.2", backend: "ollama"))
        let t1 = Stamp.now
        try completeJob(event, in: startingStore)
        let t2 = Stamp.now
        admitStarting.add(t0, t1)
        perJobStarting.add(t0, t2)
    }
    try startingStore.close()

    // The floor: three bare write transactions of one small row each.
    let bare = temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: bare) }
    let pool = try DatabasePool(path: bare + "/bare.db")
    try pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)") }
    for i in 0..<jobsPerRound {
        let t0 = Stamp.now
        for step in 0..<3 {
            try pool.write { db in
                try db.cachedStatement(sql: "INSERT INTO t (v) VALUES (?)").execute(arguments: ["\(i)-\(step)"])
            }
        }
        floor.add(t0, Stamp.now)
    }
    try pool.close()
}

func line(_ name: String, _ samples: Samples) {
    print(
        name.padding(toLength: 44, withPad: " ", startingAt: 0)
            + String(
                format: "wall p50 %7.1f  p99 %8.1f   cpu p50 %7.1f", percentile(samples.wall, 0.5), percentile(samples.wall, 0.99),
                percentile(samples.cpu, 0.5)))
}

#if DEBUG
let build = "debug"
#else
let build = "release"
#endif
print("PylonStore hot path, \(rounds) × \(jobsPerRound) jobs, \(build) build, WAL on a temporary file; µs per operation")
line("hasProcessed (dedupe lookup)", seen)
line("admit (seen id + job row + job.admitted)", admit)
line("start (+ job.started)", start)
line("complete (+ job.completed)", complete)
line("admit + start + complete, per job", perJob)
line("admit starting (a slot free: + job.started)", admitStarting)
line("admit starting + complete, per job", perJobStarting)
line("floor: 3 bare one-row GRDB transactions", floor)
