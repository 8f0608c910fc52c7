import Dispatch

#if canImport(Glibc)
import Glibc
#endif

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
        let thread = Thread(executor: self)
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        wakeup.signal()
    }

    fileprivate func runLoop() {
        ThreadName.set("aiorun-control")
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

    /// Starts the pthread that runs the loop. Detached: it lives as long as the process.
    private struct Thread {
        let executor: ControlExecutor
        func start() {
            let box = Unmanaged.passRetained(ControlStart(executor: executor))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<ControlStart>.fromOpaque(raw!).takeRetainedValue()
                start.executor.runLoop()
                return nil
            }, box.toOpaque())
            precondition(rc == 0, "cannot start the AioRun control thread: pthread_create returned \(rc)")
            pthread_detach(thread)
        }
    }
}

private final class ControlStart: Sendable {
    let executor: ControlExecutor
    init(executor: ControlExecutor) { self.executor = executor }
}
