import Synchronization
import XCTest

@testable import AioRun

/// `shutdownWaitsFor` semantics outside shutdown (asyncio.shield), and nesting.
final class ShieldTests: XCTestCase {
    func testResultPassesThroughToCallerThatWasNotCancelled() async throws {
        let scope = makeScope(EventLog())
        let value = try await scope.shield(label: "answer") { 42 }
        XCTAssertEqual(value, 42)
    }

    func testErrorPassesThroughToCallerThatWasNotCancelled() async throws {
        let log = EventLog()
        let scope = makeScope(log)
        do {
            _ = try await scope.shield(label: "fails") { () async throws -> Int in throw Boom(id: 7) }
            XCTFail("expected an error")
        } catch let error as Boom {
            XCTAssertEqual(error, Boom(id: 7))
        }
        XCTAssertTrue(log.all.isEmpty, "an error the caller saw is not unhandled: \(log.all)")
    }

    func testCancelledCallerGetsCancellationAtOnceWhileWorkRunsOn() async throws {
        let scope = makeScope(EventLog())
        let finished = Locked(false)
        let caller = Task {
            try await scope.shield(label: "slow") {
                try? await Task.sleep(for: .milliseconds(300))
                finished.withLock { $0 = true }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelledAt = ContinuousClock.now
        caller.cancel()
        do {
            try await caller.value
            XCTFail("the cancelled caller must get CancellationError")
        } catch is CancellationError {}
        XCTAssertLessThan(ContinuousClock.now - cancelledAt, .milliseconds(100))
        XCTAssertFalse(finished.withLock { $0 }, "the work must still be running")
        XCTAssertEqual(scope.stillRunning().map(\.label), ["slow"])
        await scope.waitForTasksAndShields()
        XCTAssertTrue(finished.withLock { $0 }, "teardown waits for the shielded work")
    }

    func testErrorAfterCallerIsGoneIsReportedNotDropped() async throws {
        let log = EventLog()
        let scope = makeScope(log)
        let caller = Task {
            try await scope.shield(label: "late failure") { () async throws -> Int in
                try? await Task.sleep(for: .milliseconds(100))
                throw Boom(id: 3)
            }
        }
        caller.cancel()
        _ = try? await caller.value
        await scope.waitForTasksAndShields()
        XCTAssertEqual(log.all, ["unhandled unit shield \"late failure\" (its caller had gone): boom 3"])
    }

    func testNestedShieldsReturnInnerResultEvenWhenOuterCallerIsCancelled() async throws {
        let scope = makeScope(EventLog())
        let inner = Locked<Int?>(nil)
        let caller = Task {
            try await scope.shield(label: "outer") {
                try? await Task.sleep(for: .milliseconds(100))
                let value = try await scope.shield(label: "inner") { 5 }
                inner.withLock { $0 = value }
                return value * 2
            }
        }
        caller.cancel()
        _ = try? await caller.value
        await scope.waitForTasksAndShields()
        XCTAssertEqual(inner.withLock { $0 }, 5)
    }

    func testSpawnedTasksInsideShieldAreOrdinaryTrackedTasks() async throws {
        let scope = makeScope(EventLog())
        let started = Locked(false)
        _ = try await scope.shield(label: "spawner") {
            scope.spawn(label: "child") {
                started.withLock { $0 = true }
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let running = await eventually { started.withLock { $0 } }
        XCTAssertTrue(running)
        scope.cancelTasks()
        let begin = ContinuousClock.now
        await scope.waitForTasksAndShields()
        XCTAssertLessThan(ContinuousClock.now - begin, .seconds(1), "the child is cancelled like any tracked task")
    }

    func testFreeFunctionOutsideContextThrowsWithoutStartingWork() async throws {
        do {
            try await shutdownWaitsFor { XCTFail("must not start") }
            XCTFail("expected noCurrentContext")
        } catch let error as AioRunAPIError {
            XCTAssertEqual(error, .noCurrentContext(function: "shutdownWaitsFor"))
        }
    }
}
