import XCTest

@testable import AioRun

/// The executor pool's job queue, without threads: order, O(1) withdrawal in place, and closures
/// released as soon as a job starts or is withdrawn.
final class PoolJobQueueTests: XCTestCase {
    private func job(_ label: String, _ body: @escaping PoolJob.Body = { 0 }) -> PoolJob {
        PoolJob(label: label, body: body)
    }

    func testJobsComeOutInOrder() throws {
        var queue = PoolJobQueue()
        XCTAssertTrue(queue.isEmpty)
        for index in 0..<3 { queue.push(job("job \(index)")) }
        XCTAssertEqual(queue.count, 3)
        let labels = (0..<3).compactMap { _ in queue.popNext()?.0.label }
        XCTAssertEqual(labels, ["job 0", "job 1", "job 2"])
        XCTAssertNil(queue.popNext())
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.slots, 0, "a queue whose every job was taken keeps no slot")
    }

    func testTakenJobRunsAndIsMarkedRunning() throws {
        var queue = PoolJobQueue()
        let queued = job("seven") { 7 }
        queue.push(queued)
        XCTAssertEqual(queued.phase, .queued)
        let (taken, body) = try XCTUnwrap(queue.popNext())
        XCTAssertTrue(taken === queued)
        XCTAssertEqual(taken.phase, .running)
        XCTAssertEqual(try body() as? Int, 7)
    }

    func testWithdrawnJobStaysInPlaceAndIsSkipped() throws {
        var queue = PoolJobQueue()
        let jobs = (0..<3).map { job("job \($0)") }
        for job in jobs { queue.push(job) }
        queue.withdraw(jobs[1])
        XCTAssertEqual(queue.count, 2, "a withdrawn job no longer counts")
        XCTAssertEqual(queue.slots, 3, "withdrawal does not move the other jobs")
        XCTAssertEqual(jobs[1].phase, .withdrawn)
        XCTAssertEqual(queue.queuedJobs.map(\.label), ["job 0", "job 2"])
        XCTAssertEqual(queue.popNext()?.0.label, "job 0")
        XCTAssertEqual(queue.popNext()?.0.label, "job 2", "the withdrawn job is skipped")
        XCTAssertNil(queue.popNext())
        XCTAssertTrue(queue.isEmpty)
    }

    func testStartedAndWithdrawnJobsLetGoOfTheirClosures() throws {
        var queue = PoolJobQueue()
        var started: Token? = Token()
        var withdrawn: Token? = Token()
        let startedWatch = WeakToken(try XCTUnwrap(started))
        let withdrawnWatch = WeakToken(try XCTUnwrap(withdrawn))
        let first = job("first") { [started] in withExtendedLifetime(started) { 1 } }
        let second = job("second") { [withdrawn] in withExtendedLifetime(withdrawn) { 2 } }
        started = nil
        withdrawn = nil
        queue.push(first)
        queue.push(second)
        queue.push(job("third"))
        queue.withdraw(second)
        XCTAssertNil(withdrawnWatch.value, "a withdrawn job still holds what its closure captured")
        do {
            let (_, body) = try XCTUnwrap(queue.popNext())
            XCTAssertEqual(try body() as? Int, 1)
        }
        XCTAssertEqual(queue.slots, 2, "the queue still holds the slots")
        XCTAssertNil(startedWatch.value, "a started job's slot still holds what its closure captured")
    }

    func testRemoveAllWithdrawsOnlyQueuedJobs() throws {
        var queue = PoolJobQueue()
        let jobs = (0..<4).map { job("job \($0)") }
        for job in jobs { queue.push(job) }
        _ = queue.popNext()
        queue.withdraw(jobs[2])
        let removed = queue.removeAll()
        XCTAssertEqual(removed.map(\.label), ["job 1", "job 3"])
        XCTAssertTrue(removed.allSatisfy { $0.phase == .withdrawn })
        XCTAssertEqual(jobs[0].phase, .running, "a job already taken is not touched")
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.slots, 0)
        XCTAssertNil(queue.popNext())
    }

    func testLongStreamKeepsItsOrderThroughCompaction() throws {
        var queue = PoolJobQueue()
        // Always one job ahead, so the queue never empties and must compact on its own.
        queue.push(job("first"))
        for index in 0..<20_000 {
            queue.push(job("job \(index)"))
            XCTAssertNotNil(queue.popNext())
        }
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.queuedJobs.map(\.label), ["job 19999"])
    }
}
