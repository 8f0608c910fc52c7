import AioRunPluginAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One plugin's pool of real threads for blocking jobs (aiorun's default executor, made strict).
///
/// Threads are created lazily, when a job is queued and no thread is free, up to `maxWorkers`.
/// Idle threads sleep on a condition variable, and a new job wakes one only when no awake thread
/// is free to take it. They are plain pthreads, not the cooperative pool, so a blocking job never
/// starves async work. `drain()` is phase 4 of a plugin's teardown (README, "How shutdown
/// proceeds").
///
/// Three parts: this facade (callers, cancellation, drain and abandon), `PoolState` with its
/// `PoolJobQueue` and `PoolLifecycle` (every decision, under one lock), and `PoolWorker` (the
/// threads' loop and its spin policy).
final class ExecutorPool: Sendable {
    /// The plugin that owns the pool, for thread names and messages.
    let owner: String
    /// The most threads this pool creates.
    let maxWorkers: Int
    /// The pool's one lock, with the condition variable its idle workers sleep on. Shared with
    /// `PoolWorker`.
    let state: ConditionLockedValue<PoolState>
    /// `state.queue.count`, readable without the lock: spinning workers poll it, so that waiting
    /// for the next job does not contend for the lock with the threads that queue jobs. Written
    /// only under the lock; a stale read costs one more look under the lock, never a lost job.
    let queuedHint = Atomic<Int>(0)
    /// Receives errors no caller will see: what failed, and the error.
    let reportFailure: @Sendable (String, any Error) -> Void
    /// Starts a worker's thread (`StartThread.joinable`; tests make it fail).
    private let startThread: @Sendable (String, @escaping @Sendable () -> Void) -> ThreadStartError?

    /// Creates an empty pool; no thread starts until the first job. `reportFailure` receives
    /// errors no caller will see: what failed, and the error.
    init(
        owner: String,
        maxWorkers: Int,
        startThread: @escaping @Sendable (String, @escaping @Sendable () -> Void) -> ThreadStartError? = {
            // Joined by `drain()`: the worker records its own thread (see `PoolWorker.run`).
            if case .failure(let error) = StartThread.joinable($0, $1) { return error }
            return nil
        },
        reportFailure: @escaping @Sendable (String, any Error) -> Void
    ) {
        self.owner = owner
        self.maxWorkers = max(1, maxWorkers)
        self.reportFailure = reportFailure
        self.startThread = startThread
        state = ConditionLockedValue(PoolState(maxWorkers: self.maxWorkers, maxSpinners: ExecutorPool.maxSpinners))
    }

    /// The default worker count: `min(32, cores + 4)`, as CPython's ThreadPoolExecutor.
    static var defaultWorkers: Int {
        min(32, OnlineCores.count + 4)
    }

    /// Runs `job` on a pool thread. See `ExecutorPoolHandle.run` for the caller's view.
    ///
    /// Calls arrive through the API's protocol, so `T` is never specialized here; the work is
    /// done by a non-generic core to keep generic metadata look-ups off the per-job path.
    func submit<T: Sendable>(label: String, _ job: @escaping @Sendable () throws -> T) async throws -> T {
        let value = try await submitErased(PoolJob(label: label) { try job() })
        guard let result = value as? T else {
            throw PoolResultTypeError(label: label, produced: "\(type(of: value))", expected: "\(T.self)")
        }
        return result
    }

    /// Queues `job` and waits for its result. The caller's continuation lives in the job. Whoever
    /// comes first takes it, under the pool's lock, and resumes it once the lock is released:
    /// the worker that finishes the job, the caller's cancellation, or a pool that refuses it.
    private func submitErased(_ job: PoolJob) async throws -> any Sendable {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: PoolJob.Caller) in
                enqueue(job, continuation)
            }
        } onCancel: {
            cancel(job)
        }
    }

    /// Queues a job; wakes a sleeping thread, or starts one, only when no awake thread is free
    /// to take it. A closed pool, or a caller cancelled before this point, gets its answer at once.
    private func enqueue(_ job: PoolJob, _ continuation: PoolJob.Caller) {
        let admission = state.withLock { state -> PoolState.Admission in
            let admission = state.admit(job)
            if case .queued = admission {
                job.caller = continuation
                queuedHint.store(state.queue.count, ordering: .relaxed)
            }
            return admission
        }
        switch admission {
        case .cancelled:
            continuation.resume(throwing: CancellationError())
        case .closed:
            continuation.resume(throwing: AioRunAPIError.executorClosed(plugin: owner, job: job.label))
        case .queued(let wake, let start):
            if wake { state.signal() }
            if let start { startWorker(index: start) }
        }
    }

    /// The caller was cancelled: a queued job is withdrawn and never starts; the caller of a
    /// running job is released now and the job runs on, its result discarded. Before the job is
    /// queued, this leaves a mark that `enqueue` honours.
    private func cancel(_ job: PoolJob) {
        let (caller, waiters) = state.withLock { state in
            let outcome = state.cancel(job)
            queuedHint.store(state.queue.count, ordering: .relaxed)
            return outcome
        }
        caller?.resume(throwing: CancellationError())
        for waiter in waiters { waiter.resume() }
    }

    private func startWorker(index: Int) {
        let worker = PoolWorker(pool: self, index: index)
        guard let error = startThread(ExecutorPool.threadName, { worker.run() }) else { return }
        let (stranded, wake, waiters) = state.withLock { state in
            let outcome = state.threadStartFailed(slot: index)
            queuedHint.store(state.queue.count, ordering: .relaxed)
            return outcome
        }
        if wake { state.signal() }
        for caller in stranded { caller.resume(throwing: error) }
        for waiter in waiters { waiter.resume() }
        reportFailure("starting an executor thread", error)
    }

    /// Phase 4: refuses new jobs, lets queued jobs of live callers and running jobs finish, then
    /// stops and joins every thread. Cancellation of the caller abandons the wait, not the jobs.
    func drain() async {
        await withCheckedContinuation { (continuation: PoolLifecycle.Waiter) in
            if state.withLock({ $0.close(idleWaiter: continuation) }) { continuation.resume() }
        }
        await stopThreads()
    }

    private func stopThreads() async {
        await withCheckedContinuation { (continuation: PoolLifecycle.Waiter) in
            let done = state.withLock { $0.stop(exitWaiter: continuation) }
            state.broadcast()
            if done { continuation.resume() }
        }
        // Every worker has left its loop (and recorded itself before), so these joins return
        // at once, or after a worker's last resume of a caller.
        let threads = state.withLock { $0.takeThreads() }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// After a time limit: closes the pool, releases every queued job's caller with
    /// `CancellationError` without running it, and asks idle threads to exit. Running jobs are
    /// left to finish on their own threads, which are not joined.
    func abandon() {
        let (refused, waiters) = state.withLock { state in
            let outcome = state.abandon()
            queuedHint.store(0, ordering: .relaxed)
            return outcome
        }
        for caller in refused { caller.resume(throwing: CancellationError()) }
        // A drain that was waiting for the queue to empty, with nothing running, is done now.
        for waiter in waiters { waiter.resume() }
        state.broadcast()
    }

    /// Queued and running jobs with their ages, for time-limit reports.
    func snapshot(now: ContinuousClock.Instant) -> [RunningWork] {
        state.withLock { state in
            state.running.compactMap { $0 }.map { RunningWork(kind: .job, label: $0.label, age: now - $0.since) }
                + state.queue.queuedJobs.map { RunningWork(kind: .queuedJob, label: $0.label, age: now - $0.queuedAt) }
        }
    }

    /// How many idle workers of one pool yield instead of sleeping at once: one per core at
    /// most, since more could only take cores from the threads that queue the jobs.
    static let maxSpinners = OnlineCores.count

    /// The name every pool thread carries (`/proc/self/task/*/comm`).
    static let threadName = "aiorun-pool"

    /// How many threads this pool has started and not yet stopped.
    var liveThreads: Int { state.withLock { $0.alive } }
}

/// A job's result did not come back as the type its caller awaits. Not expected to happen: the
/// pool hands back exactly what the job returned.
struct PoolResultTypeError: Error, CustomStringConvertible {
    let label: String
    let produced: String
    let expected: String
    var description: String { "executor job \(label) produced a \(produced), expected \(expected)" }
}
