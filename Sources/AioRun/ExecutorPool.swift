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
/// starves async work. `drain()` is phase 4 of a plugin's teardown.
final class ExecutorPool: Sendable {
    private struct State {
        /// Queued jobs in order, from `head` on. A job withdrawn by its caller stays in place, no
        /// longer `.queued`, and is skipped when its turn comes. Jobs before `head` have been
        /// taken; they stay until the array is compacted, but have already let go of their
        /// closures (see `PoolJob.start()` and `withdraw()`).
        var queue: [PoolJob] = []
        var head = 0
        var queued = 0
        /// What each worker runs now, by worker index.
        var running: [(label: String, since: ContinuousClock.Instant)?] = []
        var busy = 0
        var threads: [pthread_t] = []
        /// Worker slots not in use; a new worker takes one.
        var freeSlots: [Int] = []
        var sleeping = 0
        /// Idle workers yielding their core instead of sleeping (see `maxSpinners`).
        var spinning = 0
        /// Sleepers already signalled but not yet awake: they must not be signalled again.
        var pendingWakes = 0
        var alive = 0
        var closed = false
        var exiting = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var exitWaiters: [CheckedContinuation<Void, Never>] = []

        var isIdle: Bool { queued == 0 && busy == 0 }

        mutating func push(_ job: PoolJob) {
            job.phase = .queued
            queue.append(job)
            queued += 1
        }

        /// Takes the next queued job, and the closure to run for it.
        mutating func popNext() -> (PoolJob, PoolJob.Body)? {
            while head < queue.count {
                let job = queue[head]
                head += 1
                if let body = job.start() {
                    queued -= 1
                    compact()
                    return (job, body)
                }
            }
            compact()
            return nil
        }

        /// Takes a queued job out of line, so it never starts.
        mutating func withdraw(_ job: PoolJob) {
            job.withdraw()
            queued -= 1
        }

        /// Takes every queued job out of line, and their callers to answer.
        mutating func removeAllQueued() -> [UnsafeContinuation<any Sendable, any Error>] {
            defer {
                queue.removeAll()
                head = 0
                queued = 0
            }
            return queue[head...].compactMap { job in
                guard job.phase == .queued else { return nil }
                job.withdraw()
                return job.takeCaller()
            }
        }

        mutating func compact() {
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 4096 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
        }

        mutating func takeDrainWaiters() -> [CheckedContinuation<Void, Never>] {
            guard closed && isIdle else { return [] }
            defer { drainWaiters = [] }
            return drainWaiters
        }

        mutating func takeExitWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { exitWaiters = [] }
            return exitWaiters
        }
    }

    /// The plugin that owns the pool, for thread names and messages.
    let owner: String
    /// The most threads this pool creates.
    let maxWorkers: Int
    private let state: ConditionLockedValue<State>
    /// `state.queued`, readable without the lock: spinning workers poll it, so that waiting for
    /// the next job does not contend for the lock with the threads that queue jobs. Written only
    /// under the lock; a stale read costs one more look under the lock, never a lost job.
    private let queuedHint = Atomic<Int>(0)
    private let reportFailure: @Sendable (String, any Error) -> Void

    /// Creates an empty pool; no thread starts until the first job. `reportFailure` receives
    /// errors no caller will see: what failed, and the error.
    init(owner: String, maxWorkers: Int, reportFailure: @escaping @Sendable (String, any Error) -> Void) {
        self.owner = owner
        self.maxWorkers = max(1, maxWorkers)
        self.reportFailure = reportFailure
        var initial = State()
        initial.running = Array(repeating: nil, count: self.maxWorkers)
        initial.freeSlots = Array((0..<self.maxWorkers).reversed())
        state = ConditionLockedValue(initial)
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
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<any Sendable, any Error>) in
                enqueue(job, continuation)
            }
        } onCancel: {
            cancel(job)
        }
    }

    /// Queues a job; wakes a sleeping thread, or starts one, only when no awake thread is free
    /// to take it. A closed pool, or a caller cancelled before this point, gets its answer at once.
    private func enqueue(_ job: PoolJob, _ continuation: UnsafeContinuation<any Sendable, any Error>) {
        enum Outcome { case refused(any Error), queued(wake: Bool, start: Int?) }
        let outcome = state.withLock { state -> Outcome in
            guard job.phase == .new else { return .refused(CancellationError()) }
            guard !state.closed else {
                job.withdraw()
                return .refused(AioRunAPIError.executorClosed(plugin: owner, job: job.label))
            }
            job.caller = continuation
            state.push(job)
            queuedHint.store(state.queued, ordering: .relaxed)
            // Awake and free: not asleep (or already woken) and not running a job.
            let awakeAndFree = state.alive - (state.sleeping - state.pendingWakes) - state.busy
            guard state.queued > awakeAndFree else { return .queued(wake: false, start: nil) }
            if state.sleeping - state.pendingWakes > 0 {
                state.pendingWakes += 1
                return .queued(wake: true, start: nil)
            }
            guard state.alive < maxWorkers, let slot = state.freeSlots.popLast() else {
                return .queued(wake: false, start: nil)
            }
            state.alive += 1
            return .queued(wake: false, start: slot)
        }
        switch outcome {
        case .refused(let error):
            continuation.resume(throwing: error)
        case .queued(let wake, let start):
            if wake { state.signal() }
            if let start { spawnWorker(index: start) }
        }
    }

    /// The caller was cancelled: a queued job is withdrawn and never starts; the caller of a
    /// running job is released now and the job runs on, its result discarded. Before the job is
    /// queued, this leaves a mark that `enqueue` honours.
    private func cancel(_ job: PoolJob) {
        let (caller, waiters) = state.withLock { state -> (UnsafeContinuation<any Sendable, any Error>?, [CheckedContinuation<Void, Never>]) in
            switch job.phase {
            case .new:
                job.withdraw()
                return (nil, [])
            case .queued:
                state.withdraw(job)
                queuedHint.store(state.queued, ordering: .relaxed)
                return (job.takeCaller(), state.takeDrainWaiters())
            case .running:
                job.phase = .abandoned
                return (job.takeCaller(), [])
            case .withdrawn, .abandoned, .finished:
                return (nil, [])
            }
        }
        caller?.resume(throwing: CancellationError())
        waiters.forEach { $0.resume() }
    }

    private func spawnWorker(index: Int) {
        let box = Unmanaged.passRetained(WorkerStart(pool: self, index: index))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
            start.pool.workerLoop(index: start.index)
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            // The queue may count on this thread. With no worker left, nothing would ever run
            // it: refuse it now. Otherwise a sleeping worker must take over, or a job queued
            // while this thread was counted as free could wait for the next submit.
            let (stranded, wake, waiters) = state.withLock { state in
                state.alive -= 1
                state.freeSlots.append(index)
                guard state.alive == 0 else {
                    let wake = state.queued > 0 && state.sleeping - state.pendingWakes > 0
                    if wake { state.pendingWakes += 1 }
                    return ([UnsafeContinuation<any Sendable, any Error>](), wake, [CheckedContinuation<Void, Never>]())
                }
                queuedHint.store(0, ordering: .relaxed)
                return (state.removeAllQueued(), false, state.takeDrainWaiters())
            }
            if wake { state.signal() }
            let error = PoolThreadError(code: rc)
            stranded.forEach { $0.resume(throwing: error) }
            waiters.forEach { $0.resume() }
            reportFailure("starting an executor thread", error)
        }
    }

    private func workerLoop(index: Int) {
        ThreadName.set(ExecutorPool.threadName)
        // Recorded by the thread itself, under the lock, so `stopThreads` sees every thread
        // whose exit it waits for.
        state.withLock { $0.threads.append(pthread_self()) }
        enum Step { case run(PoolJob, PoolJob.Body), exit([CheckedContinuation<Void, Never>]), spin, sleep }
        // The job this worker just finished, whose caller is resumed once the lock is released:
        // resuming enqueues the caller's task, which must not lengthen the critical section.
        var finished: Completion?
        state.lock()
        while true {
            let step = state.locked { state -> Step in
                if let (job, body) = state.popNext() {
                    queuedHint.store(state.queued, ordering: .relaxed)
                    state.running[index] = (job.label, .now)
                    state.busy += 1
                    return .run(job, body)
                }
                queuedHint.store(0, ordering: .relaxed)
                guard state.exiting else {
                    // Under a stream of short jobs the next one usually arrives within
                    // microseconds: up to one idle worker per core yields its core a few times,
                    // watching `queuedHint`, before paying for a sleep and a futex wake-up per
                    // job. More spinners would only take the cores from the threads that queue.
                    if state.spinning < ExecutorPool.maxSpinners {
                        state.spinning += 1
                        return .spin
                    }
                    state.sleeping += 1
                    return .sleep
                }
                state.alive -= 1
                state.freeSlots.append(index)
                return .exit(state.alive == 0 ? state.takeExitWaiters() : [])
            }
            switch step {
            case .spin:
                state.unlock()
                finished?.deliver(reportFailure)
                finished = nil
                var rounds = 0
                while rounds < ExecutorPool.yieldsBeforeSleep && queuedHint.load(ordering: .relaxed) == 0 {
                    sched_yield()
                    rounds += 1
                }
                state.lock()
                state.locked { $0.spinning -= 1 }
                if rounds == ExecutorPool.yieldsBeforeSleep, state.locked({ $0.queued == 0 && !$0.exiting }) {
                    state.locked { $0.sleeping += 1 }
                    sleep()
                }
            case .sleep:
                if let last = finished {
                    // Not counted as asleep after all: resume the caller first, then look again.
                    state.locked { $0.sleeping -= 1 }
                    state.unlock()
                    last.deliver(reportFailure)
                    finished = nil
                    state.lock()
                } else {
                    sleep()
                }
            case .exit(let waiters):
                state.unlock()
                finished?.deliver(reportFailure)
                waiters.forEach { $0.resume() }
                return
            case .run(let job, let body):
                state.unlock()
                finished?.deliver(reportFailure)
                let result = Result { try body() }
                state.lock()
                let waiters = state.locked { state -> [CheckedContinuation<Void, Never>] in
                    state.running[index] = nil
                    state.busy -= 1
                    return state.takeDrainWaiters()
                }
                finished = Completion(label: job.label, caller: job.finish(), result: result)
                if !waiters.isEmpty {
                    state.unlock()
                    finished?.deliver(reportFailure)
                    finished = nil
                    waiters.forEach { $0.resume() }
                    state.lock()
                }
            }
        }
    }

    /// Sleeps on the condition variable; the caller holds the lock and has counted itself in
    /// `sleeping`.
    private func sleep() {
        state.wait()
        state.locked { state in
            state.sleeping -= 1
            if state.pendingWakes > 0 { state.pendingWakes -= 1 }
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
        state.withLock { $0.exiting = true }
        state.broadcast()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.alive == 0 { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        // Every worker has left its loop (and recorded itself before), so these joins return
        // at once, or after a worker's last resume of a caller.
        let threads = state.withLock { state -> [pthread_t] in
            defer { state.threads = [] }
            return state.threads
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// After a time limit: closes the pool, releases every queued job's caller with
    /// `CancellationError` without running it, and asks idle threads to exit. Running jobs are
    /// left to finish on their own threads, which are not joined.
    func abandon() {
        let (refused, waiters) = state.withLock { state in
            state.closed = true
            state.exiting = true
            queuedHint.store(0, ordering: .relaxed)
            return (state.removeAllQueued(), state.takeDrainWaiters())
        }
        refused.forEach { $0.resume(throwing: CancellationError()) }
        // A drain that was waiting for the queue to empty, with nothing running, is done now.
        waiters.forEach { $0.resume() }
        state.broadcast()
    }

    /// Queued and running jobs with their ages, for time-limit reports.
    func snapshot(now: ContinuousClock.Instant) -> [RunningWork] {
        state.withLock { state in
            state.running.compactMap { $0 }.map { RunningWork(kind: .job, label: $0.label, age: now - $0.since) }
                + state.queue[state.head...].filter { $0.phase == .queued }
                .map { RunningWork(kind: .queuedJob, label: $0.label, age: now - $0.queuedAt) }
        }
    }

    /// How often an idle worker yields its core, re-checking the queue, before it sleeps.
    static let yieldsBeforeSleep = 16

    /// How many idle workers of one pool yield instead of sleeping at once: one per core at
    /// most, since more could only take cores from the threads that queue the jobs.
    static let maxSpinners = OnlineCores.count

    /// The name every pool thread carries (`/proc/self/task/*/comm`).
    static let threadName = "aiorun-pool"

    /// How many threads this pool has started and not yet stopped.
    var liveThreads: Int { state.withLock { $0.alive } }
}

/// Carries the pool and the worker's index into a new pthread.
private final class WorkerStart: Sendable {
    let pool: ExecutorPool
    let index: Int
    init(pool: ExecutorPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}

/// A job's result did not come back as the type its caller awaits. Not expected to happen: the
/// pool hands back exactly what the job returned.
struct PoolResultTypeError: Error, CustomStringConvertible {
    let label: String
    let produced: String
    let expected: String
    var description: String { "executor job \(label) produced a \(produced), expected \(expected)" }
}

/// `pthread_create` failed.
struct PoolThreadError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "pthread_create failed with error \(code)" }
}
