import AioRunPluginAPI
import Logging
import XCTest

@testable import AioRun

/// The returning runner, the program's free functions and shielded work with a handle (README,
/// "In-process use"), in process: the points that need no signal. RunnerEndToEndTests runs the
/// ones that do in a real program.
final class RunnerTests: XCTestCase {
    struct MainError: Error {}
    struct CallbackError: Error {}

    /// Runs `runUntilShutdown`, failing the test instead of hanging when it does not finish in
    /// `limit`. Returns what it returned or threw.
    private func runReturning(
        options: LifecycleOptions = LifecycleOptions(),
        logger: Logger = CapturedLines().logger,
        within limit: Duration = .seconds(20),
        file: StaticString = #filePath,
        line: UInt = #line,
        _ main: @escaping @Sendable () async throws -> Void
    ) async -> Result<ShutdownReport, any Error>? {
        let outcome = LockedValue<Result<ShutdownReport, any Error>?>(nil)
        Task {
            let result: Result<ShutdownReport, any Error>
            do {
                result = .success(try await runUntilShutdown(options: options, logger: logger, main))
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
        }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let result = outcome.withLock({ $0 }) { return result }
            try? await Task.sleep(for: .milliseconds(5))
        }
        XCTFail("runUntilShutdown did not return within \(limit)", file: file, line: line)
        return nil
    }

    func testReturnsTheReportAfterARequestedShutdown() async throws {
        let result = await runReturning { try requestShutdown(reason: "done") }
        let report = try XCTUnwrap(result).get()
        XCTAssertEqual(report.exitCode, AioRunExitCode.clean)
        XCTAssertEqual(report.trigger?.description, "requestShutdown from main (done)")
        XCTAssertEqual(report.units.map(\.name), ["main"])
    }

    /// As in aiorun: the error that stopped the program wins over a shutdown callback's error.
    func testTheMainErrorWinsOverACallbackError() async throws {
        var options = LifecycleOptions()
        options.stopOnUnhandledErrors = true
        let result = await runReturning(options: options) {
            try onShutdown { throw CallbackError() }
            throw MainError()
        }
        XCTAssertThrowsError(try XCTUnwrap(result).get()) { XCTAssertTrue($0 is MainError, "\($0)") }
    }

    /// As in aiorun: with no error that stopped it, a callback's error is raised to the caller.
    func testACallbackErrorIsThrownWhenNothingElseFailed() async throws {
        let result = await runReturning {
            try onShutdown { throw CallbackError() }
            try requestShutdown()
        }
        XCTAssertThrowsError(try XCTUnwrap(result).get()) { XCTAssertTrue($0 is CallbackError, "\($0)") }
    }

    /// Without `stopOnUnhandledErrors`, an error `main` throws is logged and the program runs on,
    /// as in aiorun; it is not thrown by the runner.
    func testAnErrorFromMainAloneDoesNotStopTheProgram() async throws {
        let lines = CapturedLines()
        let result = await runReturning(logger: lines.logger) {
            try spawn("stopper") {
                try await Task.sleep(for: .milliseconds(200))
                try requestShutdown(reason: "later")
            }
            throw MainError()
        }
        let report = try XCTUnwrap(result).get()
        XCTAssertEqual(report.trigger?.description, "requestShutdown from main (later)")
        XCTAssertEqual(lines.containing("task \"run()\" failed").count, 1, "\(lines.all)")
    }

    /// `requestShutdown(error:)`: the runner throws the error; the exit code `run {}` would use
    /// is 3.
    func testStoppingWithAnErrorThrowsItAndEarnsExitCode3() async throws {
        let lines = CapturedLines()
        let result = await runReturning(logger: lines.logger) {
            try onShutdown { throw CallbackError() }
            try requestShutdown(error: MainError())
        }
        XCTAssertThrowsError(try XCTUnwrap(result).get()) { XCTAssertTrue($0 is MainError, "\($0)") }
        XCTAssertEqual(lines.containing("exit=3").count, 1, "\(lines.all)")
        XCTAssertEqual(lines.containing("stopping because of an error").count, 1, "\(lines.all)")
        XCTAssertEqual(
            AioRunExitCode.afterShutdown(
                trigger: .stoppedWithError(plugin: "main", error: "x"),
                stoppedForUnhandledError: false,
                abandonedAny: true
            ),
            AioRunExitCode.stoppedWithError
        )
    }

    /// After the runner returns, every disposition a manager changes is as it was before, and
    /// the manager's signal loop has ended.
    func testSignalDispositionsAreRestoredWhenTheRunnerReturns() async throws {
        let signals = SignalGuard.owned
        let before = signals.map(SignalDispositions.describe)
        let during = LockedValue<[String]>([])
        let result = await runReturning {
            during.withLock { $0 = signals.map(SignalDispositions.describe) }
            try requestShutdown()
        }
        _ = try XCTUnwrap(result).get()
        XCTAssertTrue(during.withLock { $0 }.contains("SIG_IGN"), "the manager ignores its signals while it runs")
        XCTAssertEqual(signals.map(SignalDispositions.describe), before)
    }

    /// Each free function throws `noCurrentContext` outside an AioRun task, before doing anything.
    func testFreeFunctionsNeedAContext() async throws {
        func code(_ body: () throws -> Void) -> AioRunAPIError.Code? {
            do {
                try body()
                return nil
            } catch {
                return (error as? AioRunAPIError)?.code
            }
        }
        XCTAssertEqual(code { try spawn {} }, .noCurrentContext)
        XCTAssertEqual(code { try onShutdown {} }, .noCurrentContext)
        XCTAssertEqual(code { try requestShutdown() }, .noCurrentContext)
        XCTAssertEqual(code { try requestShutdown(error: MainError()) }, .noCurrentContext)
        XCTAssertEqual(code { _ = try startShield { 1 } }, .noCurrentContext)
        XCTAssertEqual(code { _ = try executor }, .noCurrentContext)
    }

    /// The free functions act on the program's unit: a spawned task is cancelled and waited for,
    /// the callback runs first, the executor runs jobs.
    func testFreeFunctionsActOnTheProgram() async throws {
        let events = LockedValue<[String]>([])
        let result = await runReturning {
            try onShutdown { events.withLock { $0.append("callback") } }
            try spawn("waits") {
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    events.withLock { $0.append("task cancelled") }
                }
            }
            let sum = try await executor.run("sum") { (1...4).reduce(0, +) }
            events.withLock { $0.append("executor \(sum)") }
            try requestShutdown()
        }
        _ = try XCTUnwrap(result).get()
        XCTAssertEqual(events.withLock { $0 }, ["executor 10", "callback", "task cancelled"])
    }

    // MARK: - Shielded work with a handle

    /// An explicit cancel pierces the shield: the work itself is cancelled, and its caller gets
    /// what it ends with.
    func testCancelStopsTheWorkItself() async throws {
        let scope = makeScope(EventLog())
        let sawCancel = LockedValue(false)
        let work = scope.startShield(label: "long") {
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                sawCancel.withLock { $0 = true }
                throw error
            }
        }
        XCTAssertFalse(work.isCancelled)
        work.cancel()
        XCTAssertTrue(work.isCancelled)
        do {
            try await work.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        XCTAssertTrue(sawCancel.withLock { $0 })
        await scope.waitForTasksAndShields()
    }

    /// A caller of `value` that is cancelled leaves at once; the work runs on, and another caller
    /// still gets its result.
    func testACancelledCallerLeavesTheWorkRunning() async throws {
        let scope = makeScope(EventLog())
        let work = scope.startShield(label: "slow") { () async throws -> Int in
            try await Task.sleep(for: .milliseconds(300))
            return 42
        }
        let caller = Task { try await work.value }
        caller.cancel()
        do {
            _ = try await caller.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        XCTAssertFalse(work.isCancelled)
        let value = try await work.value
        XCTAssertEqual(value, 42)
        let later = try await work.value
        XCTAssertEqual(later, 42, "later callers get the kept result")
    }

    /// Shutdown does not cancel the work; the teardown waits for it (phase 3), and an error
    /// nobody awaited is reported.
    func testTeardownWaitsForTheWorkAndReportsAnErrorNobodyAwaited() async throws {
        let log = EventLog()
        let scope = makeScope(log)
        let finished = LockedValue(false)
        _ = scope.startShield(label: "flush") { () async throws -> Void in
            try await Task.sleep(for: .milliseconds(200))
            finished.withLock { $0 = true }
            throw Boom(id: 3)
        }
        scope.cancelTasks()
        await scope.waitForTasksAndShields()
        XCTAssertTrue(finished.withLock { $0 })
        XCTAssertEqual(log.all, ["unhandled unit shield \"flush\" (nobody awaited its value): boom 3"])
    }
}
