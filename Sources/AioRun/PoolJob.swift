/// One executor job: what to run, and its caller's continuation until the caller is answered.
///
/// The job is the only per-job object. The caller's continuation waits in it: a worker takes the
/// continuation under the pool lock it takes anyway after each job, and resumes it once it has
/// released the lock. A cancelled caller finds the job's phase there too.
final class PoolJob: @unchecked Sendable {
    // Why this is safe: `phase`, `caller` and `body` are the only mutable fields, and they are
    // read and written only while the owning `ExecutorPool`'s mutex is held: by the methods of
    // `PoolState` and `PoolJobQueue` (which live inside that lock) and by the pool's `enqueue`
    // and `snapshot`, all inside `withLock`, and by a `PoolWorker` between its `lock()` and
    // `unlock()`. (Unit tests of the queue and state use jobs from one thread, without a pool.)
    // Everything else is a `let`.
    //
    // Why `caller` may be an `UnsafeContinuation`: it is resumed exactly once. (A checked one
    // adds an allocation and its atomics per job: in two A/B loops of 11 runs each, 100k jobs
    // took 236 and 281 ms with it, 205 and 211 ms without, medians.)
    // - At most once: `enqueue` either resumes it at once and never stores it, or stores it here
    //   under the lock. Every later resume first takes it with `takeCaller()` under that lock,
    //   which clears it, so only one party ever holds it.
    // - At least once: a stored caller belongs to a `.queued` or `.running` job. A queued job is
    //   taken by a worker (then `finish()` takes the caller) or withdrawn by `cancel` or
    //   `PoolState.withdrawAll` (which take it). A running job's caller is taken by `finish()` or by
    //   `cancel`. A closed pool still runs its queued jobs (workers look at the queue before they
    //   exit); `abandon` withdraws them, and so does a failed thread start that leaves no worker.
    //   A failed thread start that leaves workers wakes a sleeping one if jobs are queued.

    /// Where the job is in its life. Only `.new` → `.queued` → `.running` → `.finished` runs it
    /// and answers the caller with its result; the other ends answer the caller otherwise.
    enum Phase {
        /// Created; not yet queued.
        case new
        /// Waiting for a worker.
        case queued
        /// A worker runs it.
        case running
        /// Never runs: its caller was cancelled (or the pool refused it) before it started.
        case withdrawn
        /// Runs on, but its caller was cancelled and has been answered already.
        case abandoned
        /// Ran, and its caller has its result (or is about to).
        case finished
    }

    /// The label given by the caller, for reports.
    let label: String
    /// When the caller submitted it.
    let queuedAt: ContinuousClock.Instant
    /// What a worker runs: the caller's job, its result type erased.
    typealias Body = @Sendable () throws -> any Sendable
    /// Released as soon as the job starts or is withdrawn, so that whatever it captured is not
    /// kept alive by a queue slot. Guarded by the pool's lock.
    private var body: Body?
    /// Guarded by the pool's lock.
    var phase = Phase.new
    /// A caller waiting for a job's result.
    typealias Caller = UnsafeContinuation<any Sendable, any Error>
    /// The waiting caller, until it is answered. Guarded by the pool's lock.
    var caller: Caller?

    init(label: String, body: @escaping Body) {
        self.label = label
        self.body = body
        queuedAt = .now
    }

    /// A worker takes the queued job: its closure, to run once the lock is released, or `nil`
    /// if the job is not queued (withdrawn meanwhile). Under the pool's lock.
    func start() -> Body? {
        guard phase == .queued, let body else { return nil }
        phase = .running
        self.body = nil
        return body
    }

    /// The job will never run: its closure is released now. Under the pool's lock.
    func withdraw() {
        phase = .withdrawn
        body = nil
    }

    /// Takes the caller to answer it, so that nobody answers it twice. Under the pool's lock.
    func takeCaller() -> Caller? {
        defer { caller = nil }
        return caller
    }

    /// The job has run: its caller, unless the caller has gone. Under the pool's lock.
    func finish() -> Caller? {
        guard phase == .running else { return nil }
        phase = .finished
        return takeCaller()
    }
}

/// A job that has run, held by its worker until the pool's lock is released: resuming the
/// caller enqueues its task, and that must not lengthen the critical section.
struct Completion {
    /// The job's label, for the report when nobody waits for an error.
    let label: String
    /// The caller to answer, or `nil` if it was cancelled while the job ran.
    let caller: PoolJob.Caller?
    /// What the job returned or threw.
    let result: Result<any Sendable, any Error>

    /// Answers the caller; with no caller, reports an error nobody else would see.
    func deliver(_ reportFailure: (String, any Error) -> Void) {
        if let caller {
            caller.resume(with: result)
        } else if case .failure(let error) = result {
            reportFailure("executor job \"\(label)\" (its caller had gone)", error)
        }
    }
}
