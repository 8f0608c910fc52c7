import AioRunPluginAPI
import Logging
import XCTest

@testable import AioRun

/// Readiness and ordered start (README, "Readiness and ordered start"), in process: the order
/// of starts and readiness, the time limit, and a start that fails.
final class ReadinessTests: XCTestCase {
    /// Adds a unit that is ready when it says so, after `readyAfter`, recording its start and
    /// readiness in `events`; `fail` makes its `run()` throw instead.
    private func addReporting(
        _ manager: LifecycleManager,
        _ name: String,
        readyAfter: Duration?,
        events: LockedValue<[String]>,
        fail: Bool = false,
        startupTimeout: Duration? = nil
    ) throws -> ManagedUnit {
        try manager.addUnit(
            name: name,
            config: PluginConfig(),
            options: UnitOptions(startupTimeout: startupTimeout, readiness: .whenReported)
        ) { context in
            ScriptedPlugin(context: context) { context in
                events.withLock { $0.append("start \(name)") }
                if fail { throw Boom(id: 1) }
                guard let readyAfter else {
                    try await Task.sleep(for: .seconds(3600))
                    return
                }
                try await Task.sleep(for: readyAfter)
                events.withLock { $0.append("ready \(name)") }
                context.reportReady()
            }
        }
    }

    func testEachUnitStartsOnlyOnceTheOneBeforeIsReady() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let events = LockedValue<[String]>([])
        let units = [
            try addReporting(manager, "a", readyAfter: .milliseconds(200), events: events),
            try addReporting(manager, "b", readyAfter: .milliseconds(50), events: events),
            try addReporting(manager, "c", readyAfter: .zero, events: events),
        ]
        let stopper = Task {
            _ = await eventually(.seconds(10)) { !lines.containing("ready: 3 plugins running").isEmpty }
            units[0].context.requestShutdown(reason: "test over")
        }
        let report = await runBounded(manager, units)
        stopper.cancel()
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, report?.summary ?? "")
        XCTAssertEqual(
            events.withLock { $0 },
            ["start a", "ready a", "start b", "ready b", "start c", "ready c"],
            "\(lines.all)"
        )
        let readyLines = lines.all.filter { $0.contains(" ready in ") || $0.contains("ready: ") }
        XCTAssertEqual(readyLines.count, 4, "\(lines.all)")
        XCTAssertTrue(readyLines.last?.contains("ready: 3 plugins running") == true, "\(readyLines)")
        XCTAssertTrue(readyLines.first?.contains("plugin a ready in 0.2") == true, "\(readyLines)")
    }

    func testConcurrentStartStartsEveryUnitAtOnce() async throws {
        let lines = CapturedLines()
        var options = LifecycleOptions()
        options.concurrentStart = true
        let manager = await LifecycleManager(options: options, logger: lines.logger)
        let events = LockedValue<[String]>([])
        let units = [
            try addReporting(manager, "a", readyAfter: .milliseconds(300), events: events),
            try addReporting(manager, "b", readyAfter: .milliseconds(100), events: events),
        ]
        let stopper = Task {
            _ = await eventually(.seconds(10)) { !lines.containing("ready: 2 plugins running").isEmpty }
            units[0].context.requestShutdown(reason: "test over")
        }
        let report = await runBounded(manager, units)
        stopper.cancel()
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, report?.summary ?? "")
        let seen = events.withLock { $0 }
        XCTAssertEqual(Set(seen.prefix(2)), ["start a", "start b"], "both start before either is ready: \(seen)")
        XCTAssertEqual(Array(seen.suffix(2)), ["ready b", "ready a"], "\(seen)")
    }

    func testAUnitThatIsNeverReadyFailsTheStartAndStopsTheStartedOnes() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let events = LockedValue<[String]>([])
        let units = [
            try addReporting(manager, "a", readyAfter: .zero, events: events),
            try addReporting(manager, "b", readyAfter: nil, events: events, startupTimeout: .milliseconds(300)),
            try addReporting(manager, "c", readyAfter: .zero, events: events),
        ]
        let report = await runBounded(manager, units)
        XCTAssertEqual(report?.exitCode, AioRunExitCode.failedToStart, report?.summary ?? "")
        XCTAssertEqual(report?.trigger?.description, "plugin b failed to start: not ready within 0.300s")
        XCTAssertEqual(report?.units.map(\.name), ["c", "b", "a"], "every unit is torn down in reverse order")
        XCTAssertFalse(events.withLock { $0 }.contains("start c"), "no later unit starts: \(events.withLock { $0 })")
        XCTAssertEqual(lines.containing("error plugin b failed to start").count, 1, "\(lines.all)")
        XCTAssertTrue(lines.containing("ready: ").isEmpty, "never announced: \(lines.all)")
    }

    func testARunThatThrowsBeforeReadyFailsTheStart() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let events = LockedValue<[String]>([])
        let units = [
            try addReporting(manager, "a", readyAfter: .zero, events: events),
            try addReporting(manager, "b", readyAfter: .zero, events: events, fail: true),
        ]
        let report = await runBounded(manager, units)
        XCTAssertEqual(report?.exitCode, AioRunExitCode.failedToStart, report?.summary ?? "")
        XCTAssertEqual(report?.trigger?.description, "plugin b failed to start: run() threw: boom 1")
    }

    /// A readiness that arrives right after a failed start (both queued before the manager looks)
    /// must neither start the next unit nor announce readiness (seen with a startup limit that
    /// expired as the plugin became ready).
    func testReadinessQueuedBehindAFailedStartStartsNothingMore() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let events = LockedValue<[String]>([])
        let failing = try manager.addUnit(
            name: "a",
            config: PluginConfig(),
            options: UnitOptions(readiness: .whenReported)
        ) { context in
            ScriptedPlugin(context: context) { context in
                context.reportFailure(Boom(id: 9))
                context.reportReady()
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let next = try addReporting(manager, "b", readyAfter: .zero, events: events)
        let report = await runBounded(manager, [failing, next])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.failedToStart, "\(lines.all)")
        XCTAssertEqual(report?.trigger?.description, "plugin a failed to start: reported failure: boom 9")
        XCTAssertEqual(events.withLock { $0 }, [], "b must not start: \(lines.all)")
        XCTAssertTrue(lines.containing("ready: ").isEmpty, "never announced: \(lines.all)")
    }

    /// A unit that reports a failure from its initializer is restarted before it starts; ordered
    /// start waits for its fresh instance before starting the next unit.
    func testAUnitFailingInItsInitializerIsWaitedForByOrderedStart() async throws {
        let lines = CapturedLines()
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: lines.logger)
        let events = LockedValue<[String]>([])
        let made = LockedValue(0)
        var policy = RestartPolicy.onFailure(maxRestarts: 2)
        policy.initialDelay = .milliseconds(10)
        let first = try manager.addUnit(
            name: "a",
            config: PluginConfig(),
            options: UnitOptions(restart: policy, readiness: .whenReported)
        ) { context in
            let count = made.withLock {
                $0 += 1
                return $0
            }
            if count == 1 { context.reportFailure(Boom(id: 1)) }
            return ScriptedPlugin(context: context) { context in
                try await Task.sleep(for: .milliseconds(200))
                events.withLock { $0.append("ready a") }
                context.reportReady()
            }
        }
        let second = try addReporting(manager, "b", readyAfter: .zero, events: events)
        let stopper = Task {
            _ = await eventually(.seconds(10)) { !lines.containing("ready: 2 plugins running").isEmpty }
            manager.latch.fire(.requested(plugin: "test", reason: "over"))
        }
        let report = await runBounded(manager, [first, second])
        stopper.cancel()
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, "\(lines.all)")
        XCTAssertEqual(events.withLock { $0 }, ["ready a", "start b", "ready b"], "\(lines.all)")
        XCTAssertEqual(report?.units.last?.restarts, 1)
    }

    func testReadinessReportedByTheInitializerCounts() async throws {
        let lines = CapturedLines()
        var options = LifecycleOptions()
        options.startupTimeout = .seconds(5)
        let manager = await LifecycleManager(options: options, logger: lines.logger)
        let unit = try manager.addUnit(
            name: "eager",
            config: PluginConfig(),
            options: UnitOptions(readiness: .whenReported)
        ) { context in
            context.reportReady()
            return ScriptedPlugin(context: context) { context in context.requestShutdown(reason: "test over") }
        }
        let report = await runBounded(manager, [unit])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean, "\(lines.all)")
        XCTAssertEqual(lines.containing("ready: 1 plugins running").count, 1, "\(lines.all)")
    }

    func testDrainingIsVisibleFromTheTriggerOn() async throws {
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: CapturedLines().logger)
        let seen = LockedValue<[Bool]>([])
        let unit = try manager.addUnit(name: "probe", config: PluginConfig(), options: UnitOptions()) { context in
            context.onShutdown { seen.withLock { $0.append(context.isDraining) } }
            return ScriptedPlugin(context: context) { context in
                seen.withLock { $0.append(context.isDraining) }
                XCTAssertTrue(context.isReady, "ready at start")
                XCTAssertEqual(context.shutdownTimeout, .seconds(60))
                context.requestShutdown(reason: "test over")
            }
        }
        let report = await runBounded(manager, [unit])
        XCTAssertEqual(report?.exitCode, AioRunExitCode.clean)
        XCTAssertEqual(seen.withLock { $0 }, [false, true])
    }
}
