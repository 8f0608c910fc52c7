import AioRunPluginAPI
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// One plugin's pool of real threads for blocking jobs (aiorun's default executor, made strict).
///
/// Threads are created lazily, one each time a job is queued and no thread is idle, up to
/// `maxWorkers`. They are plain pthreads, not the cooperative pool, so a blocking job never
/// starves async work. `drain()` is phase 4 of a plugin's teardown.
final class ExecutorPool: Sendable {
    /// A job as the pool sees it: what to run, and how to release its caller without running it.
    private struct Job {
        let label: String
        let queuedAt: ContinuousClock.Instant
        let run: @Sendable () -> Void
        let refuse: @Sendable (any Error) -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        var queued: [UInt64: Job] = [:]
        var order: [UInt64] = []
        var head = 0
        var running: [UInt64: (label: String, since: ContinuousClock.Instant)] = [:]
        var threads: [pthread_t] = []
        var idle = 0
        var alive = 0
        var closed = false
        var exiting = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var exitWaiters: [CheckedContinuation<Void, Never>] = []

        var isIdle: Bool { queued.isEmpty && running.isEmpty }

        mutating func popNext() -> (UInt64, Job)? {
            while head < order.count {
                let id = order[head]
                head += 1
                if let job = queued.removeValue(forKey: id) {
                    compactIfNeeded()
                    return (id, job)
                }
            }
            compactIfNeeded()
            return nil
        }

        mutating func takeDrainWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { drainWaiters = [] }
            return drainWaiters
        }

        mutating func takeExitWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { exitWaiters = [] }
            return exitWaiters
        }

        mutating func compactIfNeeded() {
            if head == order.count {
                order.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 4096 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    /// The plugin that owns the pool, for thread names and messages.
    let owner: String
    /// The most threads this pool creates.
    let maxWorkers: Int
    private let state = LockedValue(State())
    private let wakeups = DispatchSemaphore(value: 0)
    private let reportLateFailure: @Sendable (String, any Error) -> Void

    /// Creates an empty pool; no thread starts until the first job.
    init(owner: String, maxWorkers: Int, reportLateFailure: @escaping @Sendable (String, any Error) -> Void) {
        self.owner = owner
        self.maxWorkers = max(1, maxWorkers)
        self.reportLateFailure = reportLateFailure
    }

    /// The default worker count: `min(32, cores + 4)`, as CPython's ThreadPoolExecutor.
    static var defaultWorkers: Int {
        min(32, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 4)
    }

    /// Runs `job` on a pool thread. See `ExecutorPoolHandle.run` for the caller's view.
    func submit<T: Sendable>(label: String, _ job: @escaping @Sendable () throws -> T) async throws -> T {
        let handoff = Handoff<T>()
        let reportLateFailure = self.reportLateFailure
        let entry = Job(
            label: label,
            queuedAt: .now,
            run: {
                let result = Result { try job() }
                if !handoff.deliver(result), case .failure(let error) = result {
                    reportLateFailure(label, error)
                }
            },
            refuse: { handoff.deliver(.failure($0)) }
        )
        let id: UInt64? = try enqueue(entry)
        return try await withTaskCancellationHandler {
            try await handoff.wait()
        } onCancel: {
            if let id { self.withdraw(id) }
            handoff.cancel()
        }
    }

    /// Queues a job, starting a thread if none is idle. Throws once the pool is closed.
    private func enqueue(_ job: Job) throws -> UInt64 {
        let (id, startThread) = try state.withLock { state -> (UInt64, Bool) in
            guard !state.closed else {
                throw AioRunAPIError.executorClosed(plugin: owner, job: job.label)
            }
            state.nextID += 1
            let id = state.nextID
            state.queued[id] = job
            state.order.append(id)
            var start = false
            if state.queued.count > state.idle && state.alive < maxWorkers {
                state.alive += 1
                state.idle += 1
                start = true
            }
            return (id, start)
        }
        if startThread { spawnWorker() }
        wakeups.signal()
        return id
    }

    /// Removes a queued job whose caller was cancelled, so that it never starts.
    private func withdraw(_ id: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.queued.removeValue(forKey: id) != nil else { return [] }
            return state.closed && state.isIdle ? state.takeDrainWaiters() : []
        }
        waiters.forEach { $0.resume() }
    }

    private func spawnWorker() {
        let box = Unmanaged.passRetained(WorkerStart(pool: self))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
            start.pool.workerLoop()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            state.withLock { state in
                state.alive -= 1
                state.idle -= 1
            }
            reportLateFailure("thread start", PoolThreadError(code: rc))
            return
        }
        state.withLock { $0.threads.append(thread) }
    }

    private func workerLoop() {
        ThreadName.set(ExecutorPool.threadName)
        while true {
            wakeups.wait()
            enum Step { case run(UInt64, Job), exit, sleep }
            let step = state.withLock { state -> Step in
                if let (id, job) = state.popNext() {
                    state.idle -= 1
                    state.running[id] = (job.label, .now)
                    return .run(id, job)
                }
                return state.exiting ? .exit : .sleep
            }
            switch step {
            case .sleep:
                continue
            case .exit:
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.alive -= 1
                    return state.alive == 0 ? state.takeExitWaiters() : []
                }
                waiters.forEach { $0.resume() }
                return
            case .run(let id, let job):
                job.run()
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.running[id] = nil
                    state.idle += 1
                    return state.closed && state.isIdle ? state.takeDrainWaiters() : []
                }
                waiters.forEach { $0.resume() }
            }
        }
    }

    /// Phase 4: refuses new jobs, lets queued jobs of live callers and running jobs finish, then
    /// stops and joins every thread. Cancellation of the caller abandons the wait, not the jobs.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                state.closed = true
                if state.isIdle { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        await stopThreads()
    }

    private func stopThreads() async {
        let (count, threads) = state.withLock { state -> (Int, [pthread_t]) in
            state.exiting = true
            let threads = state.threads
            state.threads = []
            return (state.alive, threads)
        }
        for _ in 0..<count { wakeups.signal() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.alive == 0 { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        // Every worker has left its loop, so these joins return at once.
        for thread in threads { pthread_join(thread, nil) }
    }

    /// After a time limit: closes the pool, releases every queued job's caller with
    /// `CancellationError` without running it, and asks idle threads to exit. Running jobs are
    /// left to finish on their own threads, which are not joined.
    func abandon() {
        let refused = state.withLock { state -> [Job] in
            state.closed = true
            state.exiting = true
            let jobs = Array(state.queued.values)
            state.queued.removeAll()
            return jobs
        }
        refused.forEach { $0.refuse(CancellationError()) }
        let alive = state.withLock { $0.alive }
        for _ in 0..<alive { wakeups.signal() }
    }

    /// Queued and running jobs with their ages, for time-limit reports.
    func snapshot(now: ContinuousClock.Instant) -> [RunningWork] {
        state.withLock { state in
            state.running.values.map { RunningWork(kind: .job, label: $0.label, age: now - $0.since) }
                + state.queued.values.map { RunningWork(kind: .queuedJob, label: $0.label, age: now - $0.queuedAt) }
        }
    }

    /// The name every pool thread carries (`/proc/self/task/*/comm`).
    static let threadName = "aiorun-pool"

    /// How many threads this pool has started and not yet stopped.
    var liveThreads: Int { state.withLock { $0.alive } }
}

/// Carries the pool into a new pthread.
private final class WorkerStart: Sendable {
    let pool: ExecutorPool
    init(pool: ExecutorPool) { self.pool = pool }
}

/// `pthread_create` failed.
struct PoolThreadError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "pthread_create failed with error \(code)" }
}
