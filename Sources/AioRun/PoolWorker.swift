#if canImport(Glibc)
import Glibc
#endif

/// One thread of an executor pool: takes jobs until the pool stops. `PoolState.nextStep` decides
/// each step under the pool's lock; the worker carries it out, and does everything slow (running
/// a job, resuming its caller, spinning, sleeping) with the lock released or, for the sleep,
/// inside the condition variable's wait.
struct PoolWorker {
    /// The pool this worker belongs to.
    let pool: ExecutorPool
    /// The worker's slot in the pool (its entry in `PoolState.running`).
    let index: Int

    /// How often an idle worker yields its core, re-checking the queue, before it sleeps.
    static let yieldsBeforeSleep = 16

    /// The worker's loop; returns when the pool tells it to leave.
    func run() {
        let state = pool.state
        state.withLock { $0.entered(thread: pthread_self()) }
        // The job this worker just finished, whose caller is resumed once the lock is released:
        // resuming enqueues the caller's task, which must not lengthen the critical section.
        var finished: Completion?
        state.lock()
        while true {
            let step = state.locked { state -> PoolState.Step in
                let step = state.nextStep(worker: index)
                pool.queuedHint.store(state.queue.count, ordering: .relaxed)
                return step
            }
            switch step {
            case .spin:
                state.unlock()
                deliver(&finished)
                let sawNoJob = spin()
                state.lock()
                if state.locked({ $0.endSpin(sawNoJob: sawNoJob) }) { sleep() }
            case .sleep:
                if finished != nil {
                    // Not asleep after all: resume the caller first, then look again.
                    state.locked { $0.skipSleep() }
                    state.unlock()
                    deliver(&finished)
                    state.lock()
                } else {
                    sleep()
                }
            case .exit(let waiters):
                state.unlock()
                deliver(&finished)
                for waiter in waiters { waiter.resume() }
                return
            case .run(let job, let body):
                state.unlock()
                deliver(&finished)
                let result = Result { try body() }
                state.lock()
                let waiters = state.locked { $0.jobEnded(worker: index) }
                finished = Completion(label: job.label, caller: job.finish(), result: result)
                if !waiters.isEmpty {
                    state.unlock()
                    deliver(&finished)
                    for waiter in waiters { waiter.resume() }
                    state.lock()
                }
            }
        }
    }

    /// Yields the core up to `yieldsBeforeSleep` times, watching the pool's lock-free count of
    /// queued jobs. Returns `true` if no job showed up meanwhile.
    private func spin() -> Bool {
        var rounds = 0
        while rounds < Self.yieldsBeforeSleep && pool.queuedHint.load(ordering: .relaxed) == 0 {
            sched_yield()
            rounds += 1
        }
        return rounds == Self.yieldsBeforeSleep
    }

    /// Sleeps on the condition variable; the caller holds the lock and has been counted asleep.
    private func sleep() {
        pool.state.wait()
        pool.state.locked { $0.wokeUp() }
    }

    /// Answers the caller of the job just finished, if any; the lock must not be held.
    private func deliver(_ finished: inout Completion?) {
        finished?.deliver(pool.reportFailure)
        finished = nil
    }
}
