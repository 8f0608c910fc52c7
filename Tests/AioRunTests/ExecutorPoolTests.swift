import Dispatch
import Synchronization
import XCTest

@testable import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// Blocks the calling thread for `millis` milliseconds.
func sleepMillis(_ millis: Int) {
    var pause = timespec(tv_sec: millis / 1000, tv_nsec: (millis % 1000) * 1_000_000)
    nanosleep(&pause, nil)
}

/// The executor pool: real threads created lazily up to the bound, cancelled queued jobs never
/// start, drain refuses new jobs, finishes running ones and joins every thread.
final class ExecutorPoolTests: XCTestCase {
    func makePool(workers: Int, failures: EventLog = EventLog()) -> ExecutorPool {
        ExecutorPool(owner: "unit", maxWorkers: workers) { what, error in
            failures.entries.withLock { $0.append("\(what): \(error)") }
        }
    }

    func testThreadsAreCreatedLazilyAndBounded() async throws {
        let pool = makePool(workers: 3)
        XCTAssertEqual(pool.liveThreads, 0, "no thread before the first job")
        _ = try await pool.submit(label: "one") { 1 }
        XCTAssertEqual(pool.liveThreads, 1)
        let threads = Locked<Set<UInt>>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask {
                    try await pool.submit(label: "job \(index)") {
                        threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                        sleepMillis(30)
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertLessThanOrEqual(pool.liveThreads, 3)
        XCTAssertLessThanOrEqual(threads.withLock { $0.count }, 3)
        XCTAssertGreaterThan(threads.withLock { $0.count }, 1, "blocking jobs run in parallel")
        await pool.drain()
        XCTAssertEqual(pool.liveThreads, 0)
    }

    /// A sleeping worker already signalled must not be signalled again: the next job needs a new
    /// thread (here job A waits for job B, with room for two threads).
    func testSecondJobGetsItsOwnThreadWhileTheOnlyWorkerIsStillWaking() async throws {
        let pool = makePool(workers: 2)
        _ = try await pool.submit(label: "warm-up") { 1 }
        try await Task.sleep(for: .milliseconds(100))  // the only worker goes to sleep
        let released = DispatchSemaphore(value: 0)
        async let a: Bool = pool.submit(label: "A waits for B") { released.wait(timeout: .now() + 5) == .success }
        async let b: Void = pool.submit(label: "B releases A") { released.signal() }
        let (waited, _) = try await (a, b)
        XCTAssertTrue(waited, "job A never saw job B run: both were queued behind one thread")
        await pool.drain()
    }

    func testJobErrorReachesCaller() async throws {
        let pool = makePool(workers: 1)
        do {
            _ = try await pool.submit(label: "fails") { () throws -> Int in throw Boom(id: 1) }
            XCTFail("expected an error")
        } catch let error as Boom {
            XCTAssertEqual(error.id, 1)
        }
        await pool.drain()
    }

    func testQueuedJobOfCancelledCallerNeverStarts() async throws {
        let pool = makePool(workers: 1)
        let ran = Locked(0)
        let blocker = Task { try await pool.submit(label: "blocker") { sleepMillis(200) } }
        try await Task.sleep(for: .milliseconds(50))
        let queued = Task { try await pool.submit(label: "queued") { ran.withLock { $0 += 1 } } }
        try await Task.sleep(for: .milliseconds(20))
        queued.cancel()
        do {
            try await queued.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        try await blocker.value
        await pool.drain()
        XCTAssertEqual(ran.withLock { $0 }, 0, "a queued job whose caller was cancelled must not start")
    }

    func testDrainRefusesNewJobsFinishesRunningOnesAndJoinsThreads() async throws {
        let pool = makePool(workers: 2)
        let finished = Locked(0)
        let running = Task {
            try await pool.submit(label: "slow") {
                sleepMillis(300)
                finished.withLock { $0 += 1 }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let drainStart = ContinuousClock.now
        let drain = Task { await pool.drain() }
        try await Task.sleep(for: .milliseconds(20))
        do {
            _ = try await pool.submit(label: "too late") { 1 }
            XCTFail("a draining pool must refuse jobs")
        } catch let error as AioRunAPIError {
            XCTAssertEqual(error, .executorClosed(plugin: "unit", job: "too late"))
        }
        await drain.value
        XCTAssertGreaterThan(ContinuousClock.now - drainStart, .milliseconds(200), "drain waits for the running job")
        XCTAssertEqual(finished.withLock { $0 }, 1)
        XCTAssertEqual(pool.liveThreads, 0, "every thread has been joined")
        try await running.value
    }

    func testCancelledCallerOfRunningJobIsReleasedAtOnceAndLateErrorIsReported() async throws {
        let failures = EventLog()
        let pool = makePool(workers: 1, failures: failures)
        let caller = Task {
            try await pool.submit(label: "slow failure") { () throws -> Int in
                sleepMillis(200)
                throw Boom(id: 9)
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelledAt = ContinuousClock.now
        caller.cancel()
        _ = try? await caller.value
        XCTAssertLessThan(ContinuousClock.now - cancelledAt, .milliseconds(100))
        await pool.drain()
        XCTAssertEqual(failures.all, ["executor job \"slow failure\" (its caller had gone): boom 9"])
    }

    func testJobsRunOffTheCooperativePool() async throws {
        let pool = makePool(workers: 4)
        // Four jobs block their threads; async work elsewhere keeps running meanwhile.
        let blockers = (0..<4).map { index in
            Task { try await pool.submit(label: "block \(index)") { sleepMillis(300) } }
        }
        let start = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(20))
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(200), "the cooperative pool is not starved")
        for blocker in blockers { try await blocker.value }
        await pool.drain()
    }

    /// A caller cancelled before it submits: its cancellation handler runs first and leaves a
    /// mark, so the job is never queued and no thread starts for it.
    func testCallerCancelledBeforeSubmittingNeverQueuesItsJob() async throws {
        let pool = makePool(workers: 2)
        let ran = Locked(0)
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.submit(label: "never") { ran.withLock { $0 += 1 } }
        }
        do {
            try await caller.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        XCTAssertEqual(pool.liveThreads, 0, "nothing was queued, so no thread started")
        let drained = await runWithin(deadline: .now + .seconds(10)) { await pool.drain() }
        XCTAssertTrue(drained, "drain hung")
        XCTAssertEqual(ran.withLock { $0 }, 0)
    }

    /// Many callers of queued jobs cancelled at once: each is answered once, none of their jobs
    /// runs, the others run, and the pool's count of queued jobs stays right (drain returns).
    func testCancellingHalfTheQueueRunsExactlyTheOtherHalf() async throws {
        let pool = makePool(workers: 1)
        let release = DispatchSemaphore(value: 0)
        let ran = Locked<Set<Int>>([])
        let blocker = Task { try await pool.submit(label: "blocker") { _ = release.wait(timeout: .now() + 20) } }
        let started = await eventually(.seconds(10)) { !pool.snapshot(now: .now).isEmpty }
        XCTAssertTrue(started, "the first job never started")
        let callers = (0..<400).map { index in
            Task { try await pool.submit(label: "job \(index)") { _ = ran.withLock { $0.insert(index) } } }
        }
        let allQueued = await eventually(.seconds(10)) { pool.snapshot(now: .now).count == 401 }
        XCTAssertTrue(allQueued, "not every job was queued")
        for index in stride(from: 0, to: 400, by: 2) { callers[index].cancel() }
        for index in stride(from: 0, to: 400, by: 2) {
            do {
                try await callers[index].value
                XCTFail("job \(index): expected CancellationError")
            } catch is CancellationError {}
        }
        release.signal()
        try await blocker.value
        for index in stride(from: 1, to: 400, by: 2) { try await callers[index].value }
        let drained = await runWithin(deadline: .now + .seconds(10)) { await pool.drain() }
        XCTAssertTrue(drained, "drain hung")
        XCTAssertEqual(ran.withLock { $0 }, Set(stride(from: 1, to: 400, by: 2)))
    }

    /// After a time limit, `abandon` answers every queued caller with `CancellationError` at once
    /// and runs none of their jobs; the running job finishes and its caller still gets its result.
    func testAbandonAnswersQueuedCallersWithoutRunningTheirJobs() async throws {
        let pool = makePool(workers: 1)
        let release = DispatchSemaphore(value: 0)
        let ran = Locked(0)
        let running = Task {
            try await pool.submit(label: "running") { release.wait(timeout: .now() + 20) == .success }
        }
        // Running, not merely queued: a job still queued when the pool is abandoned is answered
        // with CancellationError like the others (seen under load).
        let started = await eventually(.seconds(10)) { pool.snapshot(now: .now).contains { $0.kind == .job } }
        XCTAssertTrue(started, "the first job never started")
        let queued = (0..<20).map { index in
            Task { try await pool.submit(label: "queued \(index)") { ran.withLock { $0 += 1 } } }
        }
        let allQueued = await eventually(.seconds(10)) { pool.snapshot(now: .now).count == 21 }
        XCTAssertTrue(allQueued, "not every job was queued")
        pool.abandon()
        for caller in queued {
            do {
                try await caller.value
                XCTFail("expected CancellationError")
            } catch is CancellationError {}
        }
        release.signal()
        let finished = try await running.value
        XCTAssertTrue(finished, "the running job was not released in time")
        XCTAssertEqual(ran.withLock { $0 }, 0, "abandoned jobs must not run")
        // The host leaves an abandoned pool's threads to exit on their own; here they are joined.
        let joined = await runWithin(deadline: .now + .seconds(10)) { await pool.drain() }
        XCTAssertTrue(joined, "the worker did not exit after its job")
    }

    /// Callers cancelled at random moments while 2,000 short jobs stream through 3 workers:
    /// every caller is answered exactly once; a caller that got a value had its job run; a job
    /// never runs twice; and drain returns, so no queued count was lost.
    func testRandomCancellationsUnderLoadAnswerEveryCallerOnce() async throws {
        let pool = makePool(workers: 3)
        let runs = Locked([Int](repeating: 0, count: 2000))
        var generator = SystemRandomNumberGenerator()
        let callers = (0..<2000).map { index in
            Task { () -> Int? in
                do {
                    return try await pool.submit(label: "job \(index)") { () -> Int in
                        runs.withLock { $0[index] += 1 }
                        if index % 7 == 0 { sleepMillis(1) }
                        return index
                    }
                } catch is CancellationError {
                    return nil
                }
            }
        }
        for index in 0..<2000 where Int.random(in: 0..<3, using: &generator) == 0 {
            if index % 50 == 0 { await Task.yield() }
            callers[index].cancel()
        }
        var answered = 0
        for (index, caller) in callers.enumerated() {
            let value = try await caller.value
            answered += 1
            if let value {
                XCTAssertEqual(value, index)
                XCTAssertEqual(runs.withLock { $0[index] }, 1, "job \(index): a value without its job having run once")
            }
        }
        XCTAssertEqual(answered, 2000)
        let drained = await runWithin(deadline: .now + .seconds(20)) { await pool.drain() }
        XCTAssertTrue(drained, "drain hung: the pool lost count of its queued or running jobs")
        XCTAssertTrue(runs.withLock { $0.allSatisfy { $0 <= 1 } }, "a job ran twice")
    }

    /// A finished job lets go of its closure at once, not when the queue is next compacted: the
    /// queue slot it leaves behind must not keep alive what the job captured.
    func testFinishedJobReleasesWhatItCapturedWhileTheQueueIsBusy() async throws {
        let pool = makePool(workers: 1)
        let releaseFirst = DispatchSemaphore(value: 0)
        let releaseSecond = DispatchSemaphore(value: 0)
        let first = Task {
            try await pool.submit(label: "first blocker") { _ = releaseFirst.wait(timeout: .now() + 20) }
        }
        let started = await eventually(.seconds(10)) { !pool.snapshot(now: .now).isEmpty }
        XCTAssertTrue(started, "the first blocker never started")
        // Queued one at a time, so that the order is known.
        let (capturing, watch) = submitCapturingJob(pool)
        let queuedFirst = await eventually(.seconds(10)) { pool.snapshot(now: .now).count == 2 }
        let second = Task {
            try await pool.submit(label: "second blocker") { _ = releaseSecond.wait(timeout: .now() + 20) }
        }
        let queuedSecond = await eventually(.seconds(10)) { pool.snapshot(now: .now).count == 3 }
        let last = Task { try await pool.submit(label: "last") { 3 } }
        let queuedLast = await eventually(.seconds(10)) { pool.snapshot(now: .now).count == 4 }
        XCTAssertTrue(queuedFirst && queuedSecond && queuedLast, "not every job was queued")
        releaseFirst.signal()
        try await first.value
        let captured = try await capturing.value
        XCTAssertEqual(captured, 2)
        // The second blocker runs now and the last job waits: the queue is not empty.
        let secondRuns = await eventually(.seconds(10)) {
            pool.snapshot(now: .now).contains { $0.label == "second blocker" && $0.kind == .job }
        }
        XCTAssertTrue(secondRuns, "the second blocker never started")
        let released = await eventually(.seconds(5)) { watch.value == nil }
        XCTAssertTrue(released, "a finished job still holds what its closure captured")
        releaseSecond.signal()
        try await second.value
        let lastValue = try await last.value
        XCTAssertEqual(lastValue, 3)
        let drained = await runWithin(deadline: .now + .seconds(10)) { await pool.drain() }
        XCTAssertTrue(drained, "drain hung")
    }

    /// No thread can be started: the job's caller gets the error instead of waiting for good,
    /// the failure is reported, and the pool still drains; a later start that works runs jobs.
    func testFailedThreadStartAnswersTheStrandedCallerAndIsReported() async throws {
        let failures = EventLog()
        let attempts = Locked(0)
        let pool = ExecutorPool(
            owner: "unit",
            maxWorkers: 2,
            startThread: { name, body in
                let attempt = attempts.withLock { count -> Int in
                    count += 1
                    return count
                }
                guard attempt > 1 else { return ThreadStartError(code: EAGAIN) }
                if case .failure(let error) = StartThread.joinable(name, body) { return error }
                return nil
            },
            reportFailure: { what, error in failures.entries.withLock { $0.append("\(what): \(error)") } }
        )
        do {
            _ = try await pool.submit(label: "stranded") { 1 }
            XCTFail("expected the thread start's error")
        } catch let error as ThreadStartError {
            XCTAssertEqual(error.code, EAGAIN)
        }
        XCTAssertEqual(pool.liveThreads, 0)
        XCTAssertEqual(failures.all, ["starting an executor thread: pthread_create failed with error \(EAGAIN)"])
        let value = try await pool.submit(label: "later") { 2 }
        XCTAssertEqual(value, 2)
        let drained = await runWithin(deadline: .now + .seconds(10)) { await pool.drain() }
        XCTAssertTrue(drained, "drain hung")
        XCTAssertEqual(pool.liveThreads, 0)
    }

    /// Starts a job whose closure alone holds a fresh object; returns its caller and a weak view
    /// of the object.
    private func submitCapturingJob(_ pool: ExecutorPool) -> (Task<Int, any Error>, WeakToken) {
        let token = Token()
        let watch = WeakToken(token)
        let job: @Sendable () -> Int = { withExtendedLifetime(token) { 2 } }
        return (Task { try await pool.submit(label: "capturing", job) }, watch)
    }
}

/// An object to watch for release.
final class Token: Sendable {}

/// A weak view of a ``Token``.
final class WeakToken: Sendable {
    weak let value: Token?
    init(_ value: Token) { self.value = value }
}
