import Dispatch

/// A task executor backed by one dedicated thread, for the manager's own control flow: signal
/// handling, teardown sequencing and time limits.
///
/// Plugins run on Swift's cooperative pool, which has only as many threads as cores. A plugin
/// that blocks those threads with synchronous work would otherwise also stop the host from
/// noticing a signal or enforcing a time limit. Tasks that prefer this executor keep running on
/// its own thread whatever the plugins do. Plugin code (callbacks, tasks) is never run here.
final class ControlExecutor: TaskExecutor {
    /// The process's control executor; its thread starts on first use and lives for the process.
    static let shared = ControlExecutor()

    private let jobs = LockedValue<[UnownedJob]>([])
    private let wakeup = DispatchSemaphore(value: 0)

    private init() {
        // Detached: the thread lives as long as the process. Without it no signal or time limit
        // could ever be handled, so a failed start ends the process at once, before any plugin.
        if let error = StartThread.detached("aiorun-control", { [self] in runLoop() }) {
            preconditionFailure("cannot start the AioRun control thread: \(error)")
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        wakeup.signal()
    }

    private func runLoop() {
        while true {
            wakeup.wait()
            let batch = jobs.withLock { queue -> [UnownedJob] in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            for job in batch {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
    }
}
