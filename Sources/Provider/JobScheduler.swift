public import NostrCore
import PylonAsync
public import PylonBasics
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One job in the scheduler, as `status --json` and `DumpState` show it.
public struct ScheduledItem: Sendable, Hashable {
    public enum Origin: String, Sendable, Hashable {
        /// A NIP-90 request from a relay.
        case nostr
        /// A `SubmitJob` on the control socket (`pylon infer`).
        case local
    }

    public var id: String
    public var origin: Origin
    public var kind: Int
    /// Amount paid in msats; 0 for a free job. Higher goes first; ties keep arrival order.
    public var priority: Int64
    public var enqueuedAt: Date
    public var startedAt: Date?
    /// NIP-90 jobs: the request, its author and time, for cancellation by a kind 5 deletion.
    public var request: EventID?
    public var customer: PublicKey?
    public var requestCreatedAt: Int64?

    public init(
        id: String, origin: Origin, kind: Int, priority: Int64 = 0, enqueuedAt: Date = Date(), request: EventID? = nil,
        customer: PublicKey? = nil, requestCreatedAt: Int64? = nil
    ) {
        self.id = id
        self.origin = origin
        self.kind = kind
        self.priority = priority
        self.enqueuedAt = enqueuedAt
        self.request = request
        self.customer = customer
        self.requestCreatedAt = requestCreatedAt
    }
}

/// The scheduler's state at one moment.
public struct SchedulerSnapshot: Sendable {
    /// In the order they will run.
    public var queued: [ScheduledItem]
    /// Oldest start first.
    public var running: [ScheduledItem]
    public var slots: Int
    public var maxQueue: Int
}

/// A slot promised by ``JobScheduler/reserveSlot()``: used by ``JobScheduler/enqueue(_:reservation:)``
/// or given back with ``JobScheduler/release(_:)``, once.
public struct SlotReservation: ~Copyable, Sendable {
    fileprivate init() {}
}

/// The queue is full and every slot is busy.
public struct SchedulerBusy: Error, Sendable, CustomStringConvertible {
    public let queued: Int
    public let running: Int
    public var description: String { "busy: \(running) jobs running and \(queued) waiting; try again later" }
}

/// Tells a running job to stop; the job's runner waits on it next to the work and the deadline.
public final class JobControl: Sendable {
    private struct State {
        var reason: String?
        var finished = false
        var observer: (@Sendable (String) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Asks the job to stop with a reason for people. The first reason wins.
    public func cancel(_ reason: String) {
        let observer = state.withLock { state -> (@Sendable (String) -> Void)? in
            guard state.reason == nil, !state.finished else { return nil }
            state.reason = reason
            defer { state.observer = nil }
            return state.observer
        }
        observer?(reason)
    }

    public var cancellationReason: String? { state.withLock { $0.reason } }

    /// Calls `body` with the reason once the job is cancelled (at once if it was already), unless
    /// the job finishes first.
    func onCancel(_ body: @escaping @Sendable (String) -> Void) {
        let reason = state.withLock { state -> String? in
            if let reason = state.reason { return reason }
            if !state.finished { state.observer = body }
            return nil
        }
        if let reason { body(reason) }
    }

    /// The job ended: a later ``cancel(_:)`` changes nothing.
    func finish() {
        state.withLock { state in
            state.finished = true
            state.observer = nil
        }
    }
}

/// How a raced job ended.
public enum RaceOutcome<Value: Sendable>: Sendable {
    case value(Value)
    case failed(any Error)
    case timedOut
    case cancelled(String)
}

/// The deterministic scheduler of SPEC §7: a bounded priority queue (paid before free, the higher
/// amount first, then arrival order), a fixed number of slots, cancellation. One consumer takes
/// jobs with ``next()`` and reports each end with ``finish(_:)``.
public final class JobScheduler: Sendable {
    public struct Dispatch: Sendable {
        public let item: ScheduledItem
        public let control: JobControl
        let arrival: UInt64
    }

    private struct Entry {
        var item: ScheduledItem
        let control: JobControl
        let arrival: UInt64

        /// Whether this entry runs before `other`.
        func precedes(_ other: Entry) -> Bool {
            item.priority != other.item.priority ? item.priority > other.item.priority : arrival < other.arrival
        }
    }

    private struct State {
        var queue: [Entry] = []
        /// Jobs that took a reserved slot, in order: they run before anything queued.
        var admitted: [Entry] = []
        var running: [String: Entry] = [:]
        /// Slots promised by ``reserveSlot()`` to jobs not enqueued yet.
        var reserved = 0
        var slots: Int
        var maxQueue: Int
        var nextArrival: UInt64 = 0
        var waiter: CheckedContinuation<Dispatch?, Never>?
        var closed = false
        /// Bumped whenever the set of jobs in flight changes (the cancellation watcher follows it).
        var version = 0
        /// Fulfilled (and replaced) when `version` changes or the scheduler closes.
        var change = Promise<Void>()

        mutating func markChanged() {
            version += 1
            let changed = change
            change = Promise()
            changed.fulfill(())
        }

        /// Slots taken or promised: running jobs, reservations, and jobs that took one.
        var occupied: Int { running.count + reserved + admitted.count }
        /// Jobs in the scheduler and reservations for more, against `slots + maxQueue`.
        var load: Int { queue.count + occupied }

        mutating func popDispatchable() -> Dispatch? {
            guard !closed else { return nil }
            var entry: Entry
            if !admitted.isEmpty {
                entry = admitted.removeFirst()
            } else {
                guard occupied < slots, !queue.isEmpty else { return nil }
                entry = queue.removeFirst()
            }
            entry.item.startedAt = Date()
            running[entry.item.id] = entry
            return Dispatch(item: entry.item, control: entry.control, arrival: entry.arrival)
        }

        /// Jobs not running yet, in the order they will run.
        var waiting: [Entry] { admitted + queue }

        func contains(_ id: String) -> Bool {
            running[id] != nil || admitted.contains { $0.item.id == id } || queue.contains { $0.item.id == id }
        }

        mutating func wakeWaiter() -> (CheckedContinuation<Dispatch?, Never>, Dispatch?)? {
            guard let waiter else { return nil }
            if closed {
                self.waiter = nil
                return (waiter, nil)
            }
            guard let dispatch = popDispatchable() else { return nil }
            self.waiter = nil
            return (waiter, dispatch)
        }
    }

    private let state: Mutex<State>

    public init(slots: Int, maxQueue: Int) {
        state = Mutex(State(slots: max(1, slots), maxQueue: max(0, maxQueue)))
    }

    /// Adds a job; throws ``SchedulerBusy`` when every slot is busy and the queue is full.
    @discardableResult
    public func enqueue(_ item: ScheduledItem) throws(SchedulerBusy) -> JobControl {
        let control = JobControl()
        let outcome: Result<(CheckedContinuation<Dispatch?, Never>, Dispatch?)?, SchedulerBusy> = state.withLock { state in
            guard !state.contains(item.id) else {
                return .success(nil)  // already here: one run per id
            }
            guard state.load < state.slots + state.maxQueue else {
                return .failure(SchedulerBusy(queued: state.queue.count + state.admitted.count, running: state.running.count))
            }
            let entry = Entry(item: item, control: control, arrival: state.nextArrival)
            state.nextArrival += 1
            let index = state.queue.firstIndex { entry.precedes($0) } ?? state.queue.endIndex
            state.queue.insert(entry, at: index)
            state.markChanged()
            return .success(state.wakeWaiter())
        }
        switch outcome {
        case .failure(let busy): throw busy
        case .success(let wake): if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
        }
        return control
    }

    /// Whether a job would be taken now (intake checks this before admitting a request).
    public var hasRoom: Bool {
        state.withLock { $0.load < $0.slots + $0.maxQueue }
    }

    /// Promises a slot to a job about to be admitted, when one is free and nothing waits for it:
    /// such a job starts at once, so its admission can record the start too. The job then comes
    /// with ``enqueue(_:reservation:)``, or the promise is given back with ``release(_:)``.
    public func reserveSlot() -> SlotReservation? {
        state.withLock { state in
            guard !state.closed, state.queue.isEmpty, state.occupied < state.slots else { return nil }
            state.reserved += 1
            return SlotReservation()
        }
    }

    /// Gives back a slot promised by ``reserveSlot()`` to a job that was not admitted after all.
    public func release(_ reservation: consuming SlotReservation) {
        let wake = state.withLock { state in
            state.reserved -= 1
            return state.wakeWaiter()
        }
        if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
    }

    /// Adds a job that holds a reserved slot: it runs next, before anything queued, whatever the
    /// slots are by now.
    @discardableResult
    public func enqueue(_ item: ScheduledItem, reservation: consuming SlotReservation) -> JobControl {
        let control = JobControl()
        let wake = state.withLock { state in
            state.reserved -= 1
            guard !state.contains(item.id) else { return state.wakeWaiter() }
            state.admitted.append(Entry(item: item, control: control, arrival: state.nextArrival))
            state.nextArrival += 1
            state.markChanged()
            return state.wakeWaiter()
        }
        if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
        return control
    }

    /// The next job to run, once a slot is free; nil after ``close()``.
    public func next() async -> Dispatch? {
        await withCheckedContinuation { continuation in
            let immediate: Dispatch?? = state.withLock { state in
                if state.closed { return .some(nil) }
                if let dispatch = state.popDispatchable() { return .some(dispatch) }
                state.waiter = continuation
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// A running job ended; its slot is free.
    public func finish(_ id: String) {
        let wake = state.withLock { state in
            guard state.running.removeValue(forKey: id) != nil else { return nil as (CheckedContinuation<Dispatch?, Never>, Dispatch?)? }
            state.markChanged()
            return state.wakeWaiter()
        }
        if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
    }

    public enum CancelOutcome: Sendable, Equatable {
        /// It was waiting and is gone from the queue; the caller records the cancellation.
        case removedFromQueue(ScheduledItem)
        /// It is running and was told to stop; its runner records the cancellation.
        case signalled
        case notFound
    }

    /// Cancels a queued or running job.
    public func cancel(_ id: String, reason: String) -> CancelOutcome {
        let outcome: CancelOutcome = state.withLock { state in
            if let index = state.queue.firstIndex(where: { $0.item.id == id }) {
                let entry = state.queue.remove(at: index)
                state.markChanged()
                return .removedFromQueue(entry.item)
            }
            if let index = state.admitted.firstIndex(where: { $0.item.id == id }) {
                let entry = state.admitted.remove(at: index)
                state.markChanged()
                return .removedFromQueue(entry.item)
            }
            if let entry = state.running[id] {
                entry.control.cancel(reason)
                return .signalled
            }
            return .notFound
        }
        return outcome
    }

    /// New limits (a reload). Fewer slots stop no running job; they only hold back new ones.
    public func update(slots: Int, maxQueue: Int) {
        let wake = state.withLock { state in
            state.slots = max(1, slots)
            state.maxQueue = max(0, maxQueue)
            return state.wakeWaiter()
        }
        if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
    }

    /// Stops dispatching: ``next()`` returns nil. Queued jobs stay queued (and in the store).
    public func close() {
        let wake = state.withLock { state in
            state.closed = true
            state.markChanged()
            return state.wakeWaiter()
        }
        if let (waiter, dispatch) = wake { waiter.resume(returning: dispatch) }
    }

    /// Queued jobs, in order, removed from the queue (shutdown leaves them to the next start).
    public func drainQueue() -> [ScheduledItem] {
        state.withLock { state in
            let waiting = state.waiting
            defer {
                state.admitted.removeAll()
                state.queue.removeAll()
            }
            if !waiting.isEmpty { state.markChanged() }
            return waiting.map(\.item)
        }
    }

    /// How many jobs wait and run, without copying them (metrics, on every change).
    public var counts: (queued: Int, running: Int, slots: Int, maxQueue: Int) {
        state.withLock { ($0.queue.count + $0.admitted.count, $0.running.count, $0.slots, $0.maxQueue) }
    }

    public func snapshot() -> SchedulerSnapshot {
        state.withLock { state in
            SchedulerSnapshot(
                queued: state.waiting.map(\.item),
                running: state.running.values.sorted { $0.arrival < $1.arrival }.map(\.item),
                slots: state.slots, maxQueue: state.maxQueue)
        }
    }

    /// Whether a caller waits in ``next()`` for a slot and a job.
    public var isAwaitingWork: Bool {
        state.withLock { $0.waiter != nil }
    }

    /// How many callers wait in ``waitForChange(from:)``.
    public var changeWatchers: Int {
        state.withLock { $0.change }.waiterCount
    }

    /// Returns once the set of jobs in flight differs from `version` (at once if it does), the
    /// scheduler closes, or the task is cancelled.
    public func waitForChange(from version: Int) async {
        let change = state.withLock { $0.version == version && !$0.closed ? $0.change : nil }
        _ = await change?.wait()
    }

    /// The NIP-90 jobs in flight (queued or running) and a version that changes with the set.
    public func inFlight() -> (version: Int, items: [ScheduledItem]) {
        state.withLock { state in
            (state.version, (state.waiting.map(\.item) + state.running.values.map(\.item)).filter { $0.origin == .nostr })
        }
    }

    /// Runs `work` against the job's deadline and its cancellation: whichever comes first decides.
    /// The work's task is cancelled when it loses. The deadline is a ``LoopTimer`` and the
    /// cancellation a callback, so a job costs one child task and no sleeping task.
    public static func race<Value: Sendable>(
        _ control: JobControl, timeout: Duration, _ work: @escaping @Sendable () async throws -> Value
    ) async -> RaceOutcome<Value> {
        let first = Promise<RaceOutcome<Value>>()
        let deadline = LoopTimer.after(timeout) { first.fulfill(.timedOut) }
        control.onCancel { first.fulfill(.cancelled($0)) }
        var outcome = await first.race {
            do {
                return .value(try await work())
            } catch {
                return .failed(error)
            }
        }
        control.finish()
        deadline.cancel()
        // A cancellation that lands while the work finishes still counts as cancelled.
        if case .value = outcome, let reason = control.cancellationReason { outcome = .cancelled(reason) }
        return outcome ?? .cancelled("stopped")
    }
}

extension SchedulerSnapshot {
    /// `DumpState`'s `scheduler`: slots, limits, and each job in order with its times.
    public var json: JSON {
        func item(_ item: ScheduledItem) -> JSON {
            var members: [JSON.Member] = [
                .init("id", .string(item.id)), .init("origin", .string(item.origin.rawValue)), .init("kind", .integer(Int64(item.kind))),
                .init("priority", .integer(item.priority)), .init("enqueued_at", .string(RFC3339.string(from: item.enqueuedAt))),
            ]
            if let startedAt = item.startedAt { members.append(.init("started_at", .string(RFC3339.string(from: startedAt)))) }
            if let customer = item.customer { members.append(.init("customer", .string(customer.hex))) }
            return .object(members)
        }
        return .object([
            .init("slots", .integer(Int64(slots))), .init("max_queue", .integer(Int64(maxQueue))),
            .init("running", .array(running.map(item))), .init("queued", .array(queued.map(item))),
        ])
    }
}
