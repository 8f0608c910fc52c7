import XCTest

@testable import AioRun

/// The executor pool's decisions, without threads: when a job wakes or starts a worker, what an
/// idle worker does, and how the lifecycle moves from open through draining to stopping.
final class PoolStateTests: XCTestCase {
    private func job(_ label: String) -> PoolJob {
        PoolJob(label: label) { 0 }
    }

    private func isRun(_ step: PoolState.Step, _ label: String) -> Bool {
        if case .run(let job, _) = step { return job.label == label }
        return false
    }

    func testFirstJobsStartWorkersUpToTheBound() {
        var state = PoolState(maxWorkers: 2, maxSpinners: 1)
        guard case .queued(wake: false, start: 0) = state.admit(job("a")) else { return XCTFail("no worker started") }
        guard case .queued(wake: false, start: 1) = state.admit(job("b")) else {
            return XCTFail("a second job waiting for a starting worker needs its own")
        }
        guard case .queued(wake: false, start: nil) = state.admit(job("c")) else { return XCTFail("beyond the bound") }
        XCTAssertEqual(state.alive, 2)
        XCTAssertEqual(state.queue.count, 3)
    }

    func testFreeWorkerIsNeitherWokenNorJoined() {
        var state = PoolState(maxWorkers: 4, maxSpinners: 1)
        _ = state.admit(job("a"))
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "a"))
        XCTAssertTrue(state.jobEnded(worker: 0).isEmpty, "an open pool has no drain to resume")
        guard case .spin = state.nextStep(worker: 0) else {
            return XCTFail("an idle worker spins first")
        }
        // The spinning worker is awake and free: the next job needs no other thread.
        guard case .queued(wake: false, start: nil) = state.admit(job("b")) else {
            return XCTFail("a free awake worker is there to take it")
        }
        XCTAssertFalse(state.endSpin(sawNoJob: false))
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "b"))
        XCTAssertEqual(state.busy, 1)
    }

    func testSleepingWorkerIsSignalledOnceThenANewOneStarts() {
        var state = PoolState(maxWorkers: 2, maxSpinners: 0)
        _ = state.admit(job("warm-up"))
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "warm-up"))
        _ = state.jobEnded(worker: 0)
        guard case .sleep = state.nextStep(worker: 0) else { return XCTFail("with no spinner allowed it sleeps") }
        guard case .queued(wake: true, start: nil) = state.admit(job("A")) else { return XCTFail("wake the sleeper") }
        XCTAssertEqual(state.pendingWakes, 1)
        guard case .queued(wake: false, start: 1) = state.admit(job("B")) else {
            return XCTFail("a sleeper already signalled must not be counted on for a second job")
        }
        state.wokeUp()
        XCTAssertEqual(state.sleeping, 0)
        XCTAssertEqual(state.pendingWakes, 0)
    }

    func testAtMostMaxSpinnersSpin() {
        var state = PoolState(maxWorkers: 3, maxSpinners: 1)
        for label in ["a", "b", "c"] { _ = state.admit(job(label)) }
        for worker in 0..<3 { _ = state.nextStep(worker: worker) }
        for worker in 0..<3 { _ = state.jobEnded(worker: worker) }
        guard case .spin = state.nextStep(worker: 0) else { return XCTFail("the first idle worker spins") }
        guard case .sleep = state.nextStep(worker: 1) else { return XCTFail("one spinner per core at most") }
        XCTAssertEqual(state.spinning, 1)
        XCTAssertTrue(state.endSpin(sawNoJob: true), "a spinner that saw no job sleeps")
        XCTAssertEqual(state.sleeping, 2)
    }

    func testCancelledBeforeQueuedIsNeverQueued() {
        var state = PoolState(maxWorkers: 1, maxSpinners: 1)
        let early = job("early")
        let (caller, waiters) = state.cancel(early)
        XCTAssertNil(caller)
        XCTAssertTrue(waiters.isEmpty)
        guard case .cancelled = state.admit(early) else { return XCTFail("the mark left by cancel is honoured") }
        XCTAssertEqual(state.alive, 0)
        XCTAssertTrue(state.queue.isEmpty)
    }

    func testCancelledQueuedJobIsWithdrawnAndRunningOneAbandoned() {
        var state = PoolState(maxWorkers: 1, maxSpinners: 1)
        let running = job("running")
        let queued = job("queued")
        _ = state.admit(running)
        _ = state.admit(queued)
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "running"))
        _ = state.cancel(queued)
        XCTAssertEqual(queued.phase, .withdrawn)
        XCTAssertTrue(state.queue.isEmpty)
        _ = state.cancel(running)
        XCTAssertEqual(running.phase, .abandoned)
        XCTAssertNil(running.finish(), "an abandoned job's caller has been answered already")
    }

    func testClosedPoolRefusesAndStoppingWorkersExitOnceTheQueueIsEmpty() async {
        var state = PoolState(maxWorkers: 1, maxSpinners: 1)
        _ = state.admit(job("before"))
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "before"))
        // A drain waits while a job runs: the pool is closed, the job finishes.
        await withCheckedContinuation { (waiter: PoolLifecycle.Waiter) in
            XCTAssertFalse(state.close(idleWaiter: waiter), "a job still runs")
            guard case .closed = state.admit(job("late")) else { return XCTFail("a closed pool refuses jobs") }
            let freed = state.jobEnded(worker: 0)
            XCTAssertEqual(freed.count, 1, "the drain is resumed when the pool is idle")
            for waiter in freed { waiter.resume() }
        }
        guard case .spin = state.nextStep(worker: 0) else { return XCTFail("draining workers wait for the stop") }
        _ = state.endSpin(sawNoJob: false)
        await withCheckedContinuation { (waiter: PoolLifecycle.Waiter) in
            XCTAssertFalse(state.stop(exitWaiter: waiter), "one worker is still alive")
            guard case .exit(let waiters) = state.nextStep(worker: 0) else {
                return XCTFail("a stopping worker leaves")
            }
            XCTAssertEqual(waiters.count, 1, "the last worker out resumes the drain")
            for waiter in waiters { waiter.resume() }
        }
        XCTAssertEqual(state.alive, 0)
    }

    func testAbandonWithdrawsTheQueueAndLetsTheRunningJobFinish() {
        var state = PoolState(maxWorkers: 1, maxSpinners: 1)
        let queued = (0..<3).map { job("queued \($0)") }
        _ = state.admit(job("running"))
        for job in queued { _ = state.admit(job) }
        XCTAssertTrue(isRun(state.nextStep(worker: 0), "running"))
        _ = state.abandon()
        XCTAssertTrue(queued.allSatisfy { $0.phase == .withdrawn })
        XCTAssertTrue(state.queue.isEmpty)
        XCTAssertTrue(state.lifecycle.isStopping)
        _ = state.jobEnded(worker: 0)
        guard case .exit = state.nextStep(worker: 0) else { return XCTFail("the worker leaves after its job") }
    }

    func testFailedThreadStartWithNoWorkerLeftWithdrawsTheQueue() {
        var state = PoolState(maxWorkers: 2, maxSpinners: 1)
        let queued = job("stranded")
        guard case .queued(_, start: let slot?) = state.admit(queued) else { return XCTFail("no worker started") }
        let outcome = state.threadStartFailed(slot: slot)
        XCTAssertFalse(outcome.wake)
        XCTAssertEqual(queued.phase, .withdrawn, "nothing would ever run it")
        XCTAssertEqual(state.alive, 0)
        guard case .queued(_, start: .some) = state.admit(job("next")) else {
            return XCTFail("the slot is free again for the next job")
        }
    }

    func testFailedThreadStartWithWorkersLeftWakesASleeper() {
        var state = PoolState(maxWorkers: 2, maxSpinners: 0)
        _ = state.admit(job("warm-up"))
        _ = state.nextStep(worker: 0)
        _ = state.jobEnded(worker: 0)
        guard case .sleep = state.nextStep(worker: 0) else { return XCTFail("the worker sleeps") }
        guard case .queued(wake: true, start: nil) = state.admit(job("A")) else { return XCTFail("wake the sleeper") }
        guard case .queued(wake: false, start: 1) = state.admit(job("B")) else { return XCTFail("start a second") }
        state.wokeUp()
        let outcome = state.threadStartFailed(slot: 1)
        XCTAssertTrue(outcome.stranded.isEmpty)
        XCTAssertEqual(state.queue.count, 2, "a worker is left to run the queue")
        XCTAssertFalse(outcome.wake, "no worker sleeps")
    }
}
