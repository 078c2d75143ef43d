import NIOCore

/// Runs Swift tasks on one NIO event loop.
///
/// The daemon's tasks prefer this executor, and its relay connections and backend client live on
/// the same loop: a frame or a backend chunk read on the loop resumes the task waiting for it
/// right there, instead of waking a thread of the shared pool and then the loop again to write.
/// A job then costs a few wake-ups instead of dozens. Work that needs a core of its own (signature
/// verification of a relay's firehose) asks for the global executor explicitly.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
