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
    /// A job as the pool sees it: what to run, and how to release its caller without running it.
    private struct Job {
        let id: UInt64
        let label: String
        let queuedAt: ContinuousClock.Instant
        let run: @Sendable () -> Void
        let refuse: @Sendable (any Error) -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        /// Queued jobs in order; a withdrawn job leaves a `nil` hole.
        var queue: [Job?] = []
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

        mutating func push(_ job: Job) {
            queue.append(job)
            queued += 1
        }

        mutating func popNext() -> Job? {
            while head < queue.count {
                let job = queue[head]
                queue[head] = nil
                head += 1
                if let job {
                    queued -= 1
                    compact()
                    return job
                }
            }
            compact()
            return nil
        }

        /// Removes a queued job; `nil` if it already started (or never was queued).
        mutating func withdraw(_ id: UInt64) -> Job? {
            for index in head..<queue.count where queue[index]?.id == id {
                defer { queue[index] = nil }
                queued -= 1
                return queue[index]
            }
            return nil
        }

        mutating func removeAllQueued() -> [Job] {
            defer {
                queue.removeAll()
                head = 0
                queued = 0
            }
            return queue[head...].compactMap { $0 }
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
        let value = try await submitErased(label: label) { try job() }
        guard let result = value as? T else {
            throw PoolResultTypeError(label: label, produced: "\(type(of: value))", expected: "\(T.self)")
        }
        return result
    }

    private func submitErased(label: String, _ job: @escaping @Sendable () throws -> any Sendable) async throws -> any Sendable {
        let handoff = Handoff<any Sendable>()
        let reportFailure = self.reportFailure
        let id = try enqueue(label: label, run: {
            let result = Result { try job() }
            if !handoff.deliver(result), case .failure(let error) = result {
                reportFailure("executor job \"\(label)\" (its caller had gone)", error)
            }
        }, refuse: { handoff.deliver(.failure($0)) })
        return try await withTaskCancellationHandler {
            try await handoff.waitIgnoringCancellation()
        } onCancel: {
            self.withdraw(id)
            handoff.cancel()
        }
    }

    /// Queues a job; wakes a sleeping thread, or starts one, only when no awake thread is free
    /// to take it. Throws once the pool is closed.
    private func enqueue(label: String, run: @escaping @Sendable () -> Void, refuse: @escaping @Sendable (any Error) -> Void) throws -> UInt64 {
        let (id, wake, start) = try state.withLock { state -> (UInt64, Bool, Int?) in
            guard !state.closed else {
                throw AioRunAPIError.executorClosed(plugin: owner, job: label)
            }
            state.nextID += 1
            state.push(Job(id: state.nextID, label: label, queuedAt: .now, run: run, refuse: refuse))
            queuedHint.store(state.queued, ordering: .relaxed)
            // Awake and free: not asleep (or already woken) and not running a job.
            let awakeAndFree = state.alive - (state.sleeping - state.pendingWakes) - state.busy
            guard state.queued > awakeAndFree else { return (state.nextID, false, nil) }
            if state.sleeping - state.pendingWakes > 0 {
                state.pendingWakes += 1
                return (state.nextID, true, nil)
            }
            guard state.alive < maxWorkers, let slot = state.freeSlots.popLast() else { return (state.nextID, false, nil) }
            state.alive += 1
            return (state.nextID, false, slot)
        }
        if wake { state.signal() }
        if let start { spawnWorker(index: start) }
        return id
    }

    /// Removes a queued job whose caller was cancelled, so that it never starts.
    private func withdraw(_ id: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.withdraw(id) != nil else { return [] }
            queuedHint.store(state.queued, ordering: .relaxed)
            return state.takeDrainWaiters()
        }
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
            // With no worker left, nothing would ever run the queue: refuse it now.
            let stranded = state.withLock { state -> [Job] in
                state.alive -= 1
                state.freeSlots.append(index)
                guard state.alive == 0 else { return [] }
                queuedHint.store(0, ordering: .relaxed)
                return state.removeAllQueued()
            }
            let error = PoolThreadError(code: rc)
            stranded.forEach { $0.refuse(error) }
            reportFailure("starting an executor thread", error)
        }
    }

    private func workerLoop(index: Int) {
        ThreadName.set(ExecutorPool.threadName)
        // Recorded by the thread itself, under the lock, so `stopThreads` sees every thread
        // whose exit it waits for.
        state.withLock { $0.threads.append(pthread_self()) }
        enum Step { case run(Job), exit([CheckedContinuation<Void, Never>]), spin, sleep }
        state.lock()
        while true {
            let step = state.locked { state -> Step in
                if let job = state.popNext() {
                    queuedHint.store(state.queued, ordering: .relaxed)
                    state.running[index] = (job.label, .now)
                    state.busy += 1
                    return .run(job)
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
                sleep()
            case .exit(let waiters):
                state.unlock()
                waiters.forEach { $0.resume() }
                return
            case .run(let job):
                state.unlock()
                job.run()
                state.lock()
                let waiters = state.locked { state -> [CheckedContinuation<Void, Never>] in
                    state.running[index] = nil
                    state.busy -= 1
                    return state.takeDrainWaiters()
                }
                if !waiters.isEmpty {
                    state.unlock()
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
        // at once.
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
        let refused = state.withLock { state -> [Job] in
            state.closed = true
            state.exiting = true
            queuedHint.store(0, ordering: .relaxed)
            return state.removeAllQueued()
        }
        refused.forEach { $0.refuse(CancellationError()) }
        state.broadcast()
    }

    /// Queued and running jobs with their ages, for time-limit reports.
    func snapshot(now: ContinuousClock.Instant) -> [RunningWork] {
        state.withLock { state in
            state.running.compactMap { $0 }.map { RunningWork(kind: .job, label: $0.label, age: now - $0.since) }
                + state.queue[state.head...].compactMap { $0 }.map { RunningWork(kind: .queuedJob, label: $0.label, age: now - $0.queuedAt) }
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
