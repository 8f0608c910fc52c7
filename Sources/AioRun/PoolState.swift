#if canImport(Glibc)
import Glibc
#endif

/// Everything an executor pool knows, behind its one lock: the queue, the lifecycle, and what
/// each worker does. Its methods make every decision (queue or refuse, wake or start a worker,
/// run, spin, sleep or exit); the pool and its workers carry them out once the lock is
/// released. A plain value: tests drive it without threads.
struct PoolState {
    /// What a worker does next (see `nextStep(worker:)`).
    enum Step {
        /// Run this job, whose closure is given.
        case run(PoolJob, PoolJob.Body)
        /// Leave the loop; resume these waiters first (the last worker resumes `drain()`).
        case exit([PoolLifecycle.Waiter])
        /// Yield the core a few times, watching for a job, before sleeping.
        case spin
        /// Sleep until signalled.
        case sleep
    }

    /// What becomes of a job handed to `admit(_:)`.
    enum Admission {
        /// Its caller was cancelled before it got here: answer it with `CancellationError`.
        case cancelled
        /// The pool is closed: answer the caller with `executorClosed`.
        case closed
        /// Queued; `wake` says whether to signal a sleeping worker, `start` which worker slot
        /// to start a thread for.
        case queued(wake: Bool, start: Int?)
    }

    /// The queued jobs.
    private(set) var queue = PoolJobQueue()
    /// Open, draining or stopping, with who waits for what.
    private(set) var lifecycle = PoolLifecycle.open
    /// What each worker runs now, by worker index.
    private(set) var running: [(label: String, since: ContinuousClock.Instant)?]
    /// Worker slots not in use; a new worker takes one.
    private var freeSlots: [Int]
    /// Workers started (or being started) and not yet out of their loop.
    private(set) var alive = 0
    /// Workers running a job.
    private(set) var busy = 0
    /// Workers asleep on the condition variable, including those already signalled.
    private(set) var sleeping = 0
    /// Idle workers yielding their core instead of sleeping (see `maxSpinners`).
    private(set) var spinning = 0
    /// Sleepers already signalled but not yet awake: they must not be signalled again.
    private(set) var pendingWakes = 0
    /// The threads of workers that have entered their loop, for `drain()` to join.
    private var threads: [pthread_t] = []
    /// The most idle workers that spin at once.
    let maxSpinners: Int

    /// A pool of up to `maxWorkers` workers, none started.
    init(maxWorkers: Int, maxSpinners: Int) {
        running = Array(repeating: nil, count: maxWorkers)
        freeSlots = Array((0..<maxWorkers).reversed())
        self.maxSpinners = maxSpinners
    }

    /// Nothing queued and nothing running.
    var isIdle: Bool { queue.isEmpty && busy == 0 }

    // MARK: - Jobs

    /// Queues `job` if the pool is open and its caller is still there. It wakes a sleeping
    /// worker, or starts one, only when no awake worker is free to take it.
    mutating func admit(_ job: PoolJob) -> Admission {
        guard job.phase == .new else { return .cancelled }
        guard lifecycle.isOpen else {
            job.withdraw()
            return .closed
        }
        queue.push(job)
        // Awake and free: not asleep (or already woken) and not running a job.
        let awakeAndFree = alive - (sleeping - pendingWakes) - busy
        guard queue.count > awakeAndFree else { return .queued(wake: false, start: nil) }
        if sleeping - pendingWakes > 0 {
            pendingWakes += 1
            return .queued(wake: true, start: nil)
        }
        guard let slot = freeSlots.popLast() else { return .queued(wake: false, start: nil) }
        alive += 1
        return .queued(wake: false, start: slot)
    }

    /// The caller of `job` was cancelled: a queued job is withdrawn and never starts; a running
    /// one runs on, its result discarded; before the job is queued, this leaves a mark that
    /// `admit` honours. Returns the caller to answer now, and drain waiters the withdrawal
    /// set free.
    mutating func cancel(_ job: PoolJob) -> (PoolJob.Caller?, [PoolLifecycle.Waiter]) {
        switch job.phase {
        case .new:
            job.withdraw()
            return (nil, [])
        case .queued:
            queue.withdraw(job)
            return (job.takeCaller(), takeIdleWaiters())
        case .running:
            job.phase = .abandoned
            return (job.takeCaller(), [])
        case .withdrawn, .abandoned, .finished:
            return (nil, [])
        }
    }

    /// Withdraws every queued job; returns their callers, to answer.
    mutating func withdrawAll() -> [PoolJob.Caller] {
        queue.removeAll().compactMap { $0.takeCaller() }
    }

    // MARK: - Workers

    /// A worker has entered its loop on `thread`: recorded by the thread itself, so that
    /// `drain()` joins every thread whose exit it waits for.
    mutating func entered(thread: pthread_t) {
        threads.append(thread)
    }

    /// What worker `index`, free now, does next. Under a stream of short jobs the next one
    /// usually arrives within microseconds: up to `maxSpinners` idle workers yield their core a
    /// few times before paying for a sleep and a futex wake-up per job. More spinners would only
    /// take the cores from the threads that queue.
    mutating func nextStep(worker index: Int) -> Step {
        if let (job, body) = queue.popNext() {
            running[index] = (job.label, .now)
            busy += 1
            return .run(job, body)
        }
        guard lifecycle.isStopping else {
            if spinning < maxSpinners {
                spinning += 1
                return .spin
            }
            sleeping += 1
            return .sleep
        }
        alive -= 1
        freeSlots.append(index)
        return .exit(alive == 0 ? lifecycle.takeExitWaiters() : [])
    }

    /// Worker `index` has run its job; returns drain waiters that the pool's idleness sets free.
    mutating func jobEnded(worker index: Int) -> [PoolLifecycle.Waiter] {
        running[index] = nil
        busy -= 1
        return takeIdleWaiters()
    }

    /// A spinning worker stops; `sawNoJob` if it yielded every round without seeing one.
    /// Returns whether it sleeps now (then it is counted as asleep).
    mutating func endSpin(sawNoJob: Bool) -> Bool {
        spinning -= 1
        guard sawNoJob && queue.isEmpty && !lifecycle.isStopping else { return false }
        sleeping += 1
        return true
    }

    /// A worker counted as asleep by `nextStep` does not sleep after all.
    mutating func skipSleep() {
        sleeping -= 1
    }

    /// A sleeping worker is awake (signalled, or spuriously).
    mutating func wokeUp() {
        sleeping -= 1
        if pendingWakes > 0 { pendingWakes -= 1 }
    }

    /// The thread for worker slot `index` could not be started. The queue may count on it: with
    /// no worker left, nothing would ever run the queued jobs, so they are withdrawn and their
    /// callers returned, to be refused. Otherwise a sleeping worker must take over (`wake`), or
    /// a job queued while this thread was counted as free could wait for the next submit.
    mutating func threadStartFailed(
        slot index: Int
    ) -> (
        stranded: [PoolJob.Caller], wake: Bool, waiters: [PoolLifecycle.Waiter]
    ) {
        alive -= 1
        freeSlots.append(index)
        guard alive == 0 else {
            let wake = !queue.isEmpty && sleeping - pendingWakes > 0
            if wake { pendingWakes += 1 }
            return ([], wake, [])
        }
        return (withdrawAll(), false, takeIdleWaiters())
    }

    // MARK: - Lifecycle

    /// `drain()` begins: no new job is taken. Returns `true` if the pool is idle already;
    /// otherwise `waiter` waits for that.
    mutating func close(idleWaiter waiter: PoolLifecycle.Waiter) -> Bool {
        lifecycle.close(idleWaiter: isIdle ? nil : waiter)
        return isIdle
    }

    /// Workers are to leave. Returns `true` if none is left; otherwise `waiter` waits for the
    /// last one.
    mutating func stop(exitWaiter waiter: PoolLifecycle.Waiter) -> Bool {
        lifecycle.stop(exitWaiter: alive == 0 ? nil : waiter)
        return alive == 0
    }

    /// After a time limit: closes the pool and tells workers to leave, withdraws every queued
    /// job and returns their callers, and the drain waiters that are free now that nothing is
    /// queued (if nothing runs either).
    mutating func abandon() -> (refused: [PoolJob.Caller], waiters: [PoolLifecycle.Waiter]) {
        lifecycle.stop(exitWaiter: nil)
        let refused = withdrawAll()
        return (refused, takeIdleWaiters())
    }

    /// The threads of every worker that entered its loop, to join; forgotten here.
    mutating func takeThreads() -> [pthread_t] {
        defer { threads = [] }
        return threads
    }

    /// Drain waiters to resume, if the pool is closed and idle.
    private mutating func takeIdleWaiters() -> [PoolLifecycle.Waiter] {
        guard !lifecycle.isOpen && isIdle else { return [] }
        return lifecycle.takeIdleWaiters()
    }
}
