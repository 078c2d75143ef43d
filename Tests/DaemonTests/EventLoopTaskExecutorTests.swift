@testable import Daemon
import NIOCore
import NIOPosix
import Testing

@Suite("EventLoopTaskExecutor")
struct EventLoopTaskExecutorTests {
    @Test("a task that prefers it runs on its event loop, across suspensions and in its child tasks")
    func runsOnTheLoop() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (atStart, afterSleep, inChild) = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            let atStart = loop.inEventLoop
            try await Task.sleep(for: .milliseconds(2))
            let afterSleep = loop.inEventLoop
            let inChild = await withTaskGroup(of: Bool.self) { group in
                group.addTask { loop.inEventLoop }
                return await group.next() ?? false
            }
            return (atStart, afterSleep, inChild)
        }
        #expect(atStart)
        #expect(afterSleep)
        #expect(inChild)
    }

    @Test("a child task that asks for the global executor leaves the loop (signature verification does)")
    func globalPreferenceLeavesTheLoop() async {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let onLoop = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask(executorPreference: globalConcurrentExecutor) { loop.inEventLoop }
                return await group.next() ?? true
            }
        }
        #expect(!onLoop)
    }

    @Test("many tasks on the loop all finish, in any interleaving")
    func manyTasks() async {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let total = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            await withTaskGroup(of: Int.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        await Task.yield()
                        return loop.inEventLoop ? index : -1_000_000
                    }
                }
                return await group.reduce(0, +)
            }
        }
        #expect(total == (0..<1000).reduce(0, +))
    }
}
