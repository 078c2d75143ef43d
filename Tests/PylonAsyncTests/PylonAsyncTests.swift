import NIOCore
import NIOPosix
import PylonAsync
import PylonTestSupport
import Synchronization
import Testing

@Suite("LoopTimer")
struct LoopTimerTests {
    @Test("fires once, on an event loop, no sooner than its delay")
    func fires() async {
        let start = ContinuousClock.now
        let fired = Promise<(ContinuousClock.Instant, Bool)>()
        let count = Mutex(0)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        LoopTimer.after(.milliseconds(30), on: loop) {
            count.withLock { $0 += 1 }
            fired.fulfill((.now, MultiThreadedEventLoopGroup.singleton.any().inEventLoop))
        }
        let result = await fired.wait(timeout: .seconds(5))
        #expect(result != nil)
        if let (at, onLoop) = result {
            #expect(at - start >= .milliseconds(30))
            #expect(onLoop)
        }
        // End marker: a later timer on the same loop; timers of one loop fire in deadline order.
        let marker = Promise<Void>()
        LoopTimer.after(.milliseconds(30), on: loop) { marker.fulfill(()) }
        #expect(await marker.wait(timeout: .seconds(5)) != nil)
        #expect(count.withLock { $0 } == 1)
    }

    @Test("a cancelled timer never fires; a deadline in the past fires at once")
    func cancel() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let fired = Mutex(false)
        let timer = LoopTimer.after(.milliseconds(20), on: loop) { fired.withLock { $0 = true } }
        timer.cancel()
        let past = Promise<Void>()
        LoopTimer.at(.now - .seconds(1), on: loop) { past.fulfill(()) }
        #expect(await past.wait(timeout: .seconds(5)) != nil)
        // End marker: a timer due after the cancelled one, on the same loop, fires after it would have.
        let marker = Promise<Void>()
        LoopTimer.after(.milliseconds(40), on: loop) { marker.fulfill(()) }
        #expect(await marker.wait(timeout: .seconds(5)) != nil)
        #expect(fired.withLock { $0 } == false)
    }
}

@Suite("LoopTimer.sleep")
struct LoopTimerSleepTests {
    @Test("sleeps at least its time; a cancelled sleep throws at once")
    func sleep() async throws {
        let start = ContinuousClock.now
        try await LoopTimer.sleep(for: .milliseconds(40))
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        let task = Task { try await LoopTimer.sleep(for: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(20))
        let cancelledAt = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - cancelledAt < .seconds(5))
    }
}

@Suite("Promise")
struct PromiseTests {
    @Test("every waiter gets the value; the first fulfil wins")
    func fulfil() async {
        let promise = Promise<Int>()
        async let a = promise.wait()
        async let b = promise.wait(timeout: .seconds(10))
        #expect(await awaitCondition { promise.waiterCount == 2 })
        #expect(promise.fulfill(1))
        #expect(!promise.fulfill(2))
        #expect(await a == 1)
        #expect(await b == 1)
        #expect(promise.current == 1)
        #expect(await promise.wait(timeout: .zero) == 1)
    }

    @Test("whenFulfilled: a callback set before the value runs in the fulfil that sets it, one set after runs at once; each once")
    func callbacks() async {
        let promise = Promise<String>()
        let calls = Mutex<[String]>([])
        promise.whenFulfilled { value in calls.withLock { $0.append("early \(value)") } }
        promise.whenFulfilled { value in calls.withLock { $0.append("second \(value)") } }
        #expect(calls.withLock { $0 }.isEmpty, "nothing runs before the value is there")
        #expect(promise.fulfill("a"))
        #expect(calls.withLock { $0 } == ["early a", "second a"])
        #expect(!promise.fulfill("b"))
        promise.whenFulfilled { value in calls.withLock { $0.append("late \(value)") } }
        #expect(calls.withLock { $0 } == ["early a", "second a", "late a"], "the losing fulfil calls nobody again")
        // An optional value of nil is a value too
        let optional = Promise<Int?>()
        let got = Mutex<[Int?]>([])
        optional.whenFulfilled { value in got.withLock { $0.append(value) } }
        optional.fulfill(nil)
        #expect(got.withLock { $0 } == [nil])
    }

    @Test("values of any type come back as they were set: optionals (nil included), tuples, errors in results")
    func valueTypes() async {
        let unset = Promise<Int?>()
        #expect(unset.current == nil)
        let start = ContinuousClock.now
        #expect(await unset.wait(timeout: .milliseconds(20)) == nil)
        #expect(ContinuousClock.now - start >= .milliseconds(20))
        let none = Promise<Int?>()
        async let waitingForNone = none.wait()
        #expect(await awaitCondition { none.waiterCount == 1 })
        #expect(none.fulfill(nil))
        #expect(await waitingForNone == .some(nil))
        #expect(none.current == .some(nil))
        #expect(!none.fulfill(5))
        let some = Promise<Int?>()
        some.fulfill(7)
        #expect(await some.wait(timeout: .seconds(1)) == .some(7))
        let pair = Promise<(Int, String)>()
        pair.fulfill((1, "a"))
        let value = await pair.wait()
        #expect(value?.0 == 1 && value?.1 == "a")
        struct Failure: Error {}
        let result = Promise<Result<Int, any Error>>()
        result.fulfill(.failure(Failure()))
        if case .failure(let error)? = await result.wait() { #expect(error is Failure) } else { Issue.record("no failure") }
    }

    @Test("a timeout ends that wait alone, after its time, and the value still reaches the others")
    func timeout() async {
        let promise = Promise<String>()
        let start = ContinuousClock.now
        async let patient = promise.wait(timeout: .seconds(10))
        let hasty = await promise.wait(timeout: .milliseconds(30))
        #expect(hasty == nil)
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        promise.fulfill("late")
        #expect(await patient == "late")
    }

    @Test("a zero timeout returns at once, even when the timer fires before the wait suspends")
    func zeroTimeout() async {
        let promise = Promise<Int>()
        for _ in 0..<200 {
            #expect(await promise.wait(timeout: .zero) == nil)
        }
    }

    @Test("a cancelled task's wait returns nil; a wait in an already-cancelled task returns at once")
    func cancellation() async {
        let promise = Promise<Int>()
        let task = Task { await promise.wait() }
        #expect(await awaitCondition { promise.waiterCount == 1 })
        task.cancel()
        #expect(await task.value == nil)
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await promise.wait(timeout: .seconds(10))
        }
        #expect(await cancelledFirst.value == nil)
        promise.fulfill(3)
        #expect(await promise.wait() == 3)
    }

    @Test("race: the work's result when it ends first; another fulfiller's, cancelling the work; the work's own when the caller is cancelled")
    func race() async throws {
        let quick = Promise<String>()
        #expect(await quick.race { "work" } == "work")

        let beaten = Promise<String>()
        let workCancelled = Promise<Bool>()
        LoopTimer.after(.milliseconds(20)) { beaten.fulfill("timer") }
        let outcome = await beaten.race {
            let slept: Void? = try? await LoopTimer.sleep(for: .seconds(30))
            workCancelled.fulfill(slept == nil)
            return "work"
        }
        #expect(outcome == "timer")
        #expect(await workCancelled.wait(timeout: .seconds(5)) == true)

        let abandoned = Promise<String>()
        let caller = Task {
            await abandoned.race {
                let slept: Void? = try? await LoopTimer.sleep(for: .seconds(30))
                return slept == nil ? "work saw the cancellation" : "work slept"
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        caller.cancel()
        #expect(await caller.value == "work saw the cancellation")
    }

    @Test("settles a race: 1000 promises each raced by a value and a short timer, one winner each")
    func races() async {
        let outcomes = await withTaskGroup(of: Int?.self, returning: [Int?].self) { group in
            for index in 0..<1000 {
                group.addTask {
                    let promise = Promise<Int>()
                    LoopTimer.after(.microseconds(index % 7 * 50)) { promise.fulfill(-1) }
                    Task { promise.fulfill(index) }
                    return await promise.wait(timeout: .seconds(10))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 1000)
        #expect(outcomes.allSatisfy { $0 != nil })
    }
}
