import AioRunPluginAPI
import Dispatch
import Logging
import XCTest

@testable import AioRun

/// Restart on failure, within a budget (README, "Restart on failure"), in process.
final class RestartTests: XCTestCase {
    private func quickRestarts(max: Int) -> RestartPolicy {
        var policy = RestartPolicy.onFailure(maxRestarts: max, within: .seconds(60))
        policy.initialDelay = .milliseconds(10)
        return policy
    }

    func testAUnitThatFailsTwiceThenWorksIsRestartedAndStaysUp() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let runs = LockedValue(0)
        let contexts = LockedValue<[ObjectIdentifier]>([])
        let unit = try manager.addUnit(
            name: "flaky",
            config: PluginConfig(),
            options: UnitOptions(restart: quickRestarts(max: 3), readiness: .whenReported)
        ) { context in
            contexts.withLock { $0.append(ObjectIdentifier(context)) }
            return ScriptedPlugin(context: context) { context in
                let run = runs.withLock {
                    $0 += 1
                    return $0
                }
                if run <= 2 { throw Boom(id: run) }
                context.reportReady()
            }
        }
        let stopper = Task {
            _ = await eventually(.seconds(10)) { !lines.containing("ready: 1 plugins running").isEmpty }
            manager.latch.fire(.requested(plugin: "test", reason: "over"))
        }
        let report = await runBounded(manager, [unit])
        stopper.cancel()
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, report?.summary ?? "")
        XCTAssertEqual(report?.units.first?.restarts, 2, report?.summary ?? "")
        XCTAssertEqual(Set(contexts.withLock { $0 }).count, 3, "each instance gets a fresh context")
        XCTAssertEqual(lines.containing("restarting in").count, 2, "\(lines.all)")
        XCTAssertEqual(lines.containing("stopped plugin flaky").count, 3, "two restart teardowns and the last")
        XCTAssertEqual(lines.containing("plugin flaky ready in").first?.hasSuffix("(restart 2)"), true, "\(lines.all)")
    }

    func testAUnitThatKeepsFailingAfterReadySpendsItsBudget() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let other = LockedValue(0)
        let steady = try manager.addUnit(name: "steady", config: PluginConfig(), options: UnitOptions()) { context in
            other.withLock { $0 += 1 }
            return ScriptedPlugin(context: context) { _ in try await Task.sleep(for: .seconds(3600)) }
        }
        let failing = try manager.addUnit(
            name: "failing",
            config: PluginConfig(),
            options: UnitOptions(restart: quickRestarts(max: 2))
        ) { context in
            ScriptedPlugin(context: context) { context in
                try await Task.sleep(for: .milliseconds(20))
                context.reportFailure(Boom(id: 7))
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let report = await runBounded(manager, [steady, failing])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.restartBudgetSpent, report?.summary ?? "")
        XCTAssertEqual(
            report?.trigger?.description,
            "plugin failing spent its restart budget; last error: reported failure: boom 7"
        )
        XCTAssertEqual(report?.units.map(\.name), ["failing", "steady"])
        XCTAssertEqual(report?.units.map(\.restarts), [2, 0])
        XCTAssertEqual(other.withLock { $0 }, 1, "the other unit is not touched")
        XCTAssertEqual(lines.containing("restart budget spent").count, 1, "\(lines.all)")
    }

    func testWithoutAPolicyAFailureAfterReadyIsAnUnhandledError() async throws {
        let lines = CapturedLines()
        var options = LifecycleOptions()
        options.stopOnUnhandledErrors = true
        let manager = await LifecycleManager(options: options, logger: lines.logger)
        let unit = try manager.addUnit(name: "once", config: PluginConfig(), options: UnitOptions()) { context in
            ScriptedPlugin(context: context) { _ in
                try await Task.sleep(for: .milliseconds(20))
                throw Boom(id: 3)
            }
        }
        let report = await runBounded(manager, [unit])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.unhandledError, report?.summary ?? "")
        XCTAssertEqual(lines.containing("task \"run()\" failed: boom 3").count, 1, "\(lines.all)")
    }

    func testAnInitializerThatHangsOnRestartIsAFailureAndDoesNotStopTheManager() async throws {
        let lines = CapturedLines()
        var options = LifecycleOptions()
        options.startupTimeout = .milliseconds(300)
        let manager = await LifecycleManager(options: options, logger: lines.logger)
        let made = LockedValue(0)
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        let unit = try manager.addUnit(
            name: "hangs",
            config: PluginConfig(),
            options: UnitOptions(restart: quickRestarts(max: 1))
        ) { context in
            let count = made.withLock {
                $0 += 1
                return $0
            }
            // The restarted instance's initializer blocks its thread far beyond the limit.
            if count > 1 { _ = release.wait(timeout: .now() + 20) }
            return ScriptedPlugin(context: context) { context in
                try await Task.sleep(for: .milliseconds(20))
                context.reportFailure(Boom(id: count))
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let started = ContinuousClock.now
        let report = await runBounded(manager, [unit], within: .seconds(10))
        XCTAssertEqual(report?.exitCode, AioRunExitCode.restartBudgetSpent, "\(lines.all)")
        XCTAssertEqual(
            report?.trigger?.description,
            "plugin hangs spent its restart budget; last error: not ready within 0.300s"
        )
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "the hung initializer held the manager up")
    }

    func testManyFailureReportsFromOneInstanceRestartItOnce() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let made = LockedValue(0)
        let unit = try manager.addUnit(
            name: "noisy",
            config: PluginConfig(),
            options: UnitOptions(restart: quickRestarts(max: 3), readiness: .whenReported)
        ) { context in
            let count = made.withLock {
                $0 += 1
                return $0
            }
            return ScriptedPlugin(context: context) { context in
                if count == 1 {
                    for index in 0..<1000 { context.reportFailure(Boom(id: index)) }
                    try await Task.sleep(for: .seconds(3600))
                }
                context.reportReady()
                context.requestShutdown(reason: "test over")
            }
        }
        let report = await runBounded(manager, [unit])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, "\(lines.all)")
        XCTAssertEqual(report?.units.first?.restarts, 1)
        XCTAssertEqual(lines.containing("restarting in").count, 1)
        XCTAssertEqual(
            lines.containing("failures of this instance so far").count,
            9,
            "2, 4, … 512: \(lines.all.count) lines"
        )
    }

    func testBackoffDoublesUpToItsCap() {
        var policy = RestartPolicy.onFailure()
        policy.initialDelay = .milliseconds(100)
        policy.maxDelay = .milliseconds(500)
        XCTAssertEqual(
            (0..<5).map { policy.delay(afterRecentRestarts: $0) },
            [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500),
            ]
        )
    }
}
