import AioRunTestKit
import XCTest

/// The test kit runs a plugin in-process through the host's teardown and reports what happened.
final class PluginTestHarnessTests: XCTestCase {
    func testTeardownRunsCallbacksCancelsTasksAndAwaitsShields() async throws {
        let happenings = Happenings()
        let harness = await PluginTestHarness(name: "good", config: ["greeting": "hi"]) {
            try WellBehavedPlugin(context: $0, happenings: happenings)
        }
        try await harness.start()
        try await harness.waitForRecord(containing: "started with greeting=hi", within: .seconds(5))
        try await waitUntil { happenings.all.contains("shield started") }

        let report = await harness.shutdown(reason: "test over")

        XCTAssertEqual(report.exitCode, 0, report.summary)
        XCTAssertEqual(report.units.map(\.name), ["good"])
        XCTAssertNil(report.units.first?.expiredIn, report.summary)
        XCTAssertEqual(report.trigger?.description, "requestShutdown from good (test over)")
        let events = happenings.all
        XCTAssertTrue(events.contains("callback ran"), "\(events)")
        XCTAssertTrue(events.contains("worker cancelled"), "\(events)")
        XCTAssertTrue(events.contains("shield finished"), "the teardown waits for the shield: \(events)")
        XCTAssertLessThan(
            events.firstIndex(of: "callback ran") ?? .max,
            events.firstIndex(of: "worker cancelled") ?? -1,
            "callbacks run before tasks are cancelled: \(events)"
        )
        let own = harness.pluginRecords
        XCTAssertEqual(own.map(\.message), ["started with greeting=hi"], "\(harness.records)")
        XCTAssertEqual(own.first?.level, .info)
        XCTAssertEqual(own.first?.label, "good")
    }

    func testWorkThatOutlivesTheTimeLimitIsAbandonedAndReported() async throws {
        let harness = await PluginTestHarness(name: "stubborn", shutdownTimeout: .milliseconds(300)) {
            StubbornPlugin(context: $0)
        }
        try await harness.start()
        let report = await harness.shutdown()
        XCTAssertEqual(report.exitCode, 70, report.summary)
        XCTAssertEqual(report.units.first?.expiredIn, .wait, report.summary)
        XCTAssertEqual(report.units.first?.abandoned.count, 1, report.summary)
        XCTAssertTrue(report.summary.contains("stubborn"), report.summary)
    }

    func testAPluginThatRequestsShutdownEndsTheRun() async throws {
        let harness = await PluginTestHarness(name: "quitter") { QuittingPlugin(context: $0) }
        try await harness.start()
        let report = await harness.waitForShutdown(within: .seconds(5))
        XCTAssertEqual(report?.exitCode, 0)
        XCTAssertEqual(harness.shutdownTrigger?.description, "requestShutdown from quitter (work done)")
    }

    func testAnUnhandledErrorIsLoggedAndWithStopOnUnhandledErrorsEndsTheRunWithOne() async throws {
        let harness = await PluginTestHarness(name: "failing", stopOnUnhandledErrors: true) {
            FailingPlugin(context: $0)
        }
        try await harness.start()
        let report = await harness.waitForShutdown(within: .seconds(5))
        XCTAssertEqual(report?.exitCode, 1)
        let failure = try await harness.waitForRecord(containing: "disk on fire", within: .seconds(1))
        XCTAssertEqual(failure.level, .error)
        XCTAssertEqual(failure.plugin, "failing")
    }

    func testAnInitializerThatThrowsIsRethrownAndNothingRuns() async throws {
        let happenings = Happenings()
        let harness = await PluginTestHarness(config: ["interval-ms": "0"]) {
            try WellBehavedPlugin(context: $0, happenings: happenings)
        }
        do {
            try await harness.start()
            XCTFail("expected the initializer's config error")
        } catch let error as PluginConfigError {
            XCTAssertEqual(error.key, "interval-ms")
        }
        XCTAssertEqual(happenings.all, [])
    }

    /// The bridge keeps the first sink it was given for the whole process; each harness still
    /// captures its own plugin's swift-log records.
    func testSwiftLogThroughTheBridgeReachesEachHarnessInTurn() async throws {
        for name in ["first", "second", "third"] {
            let harness = await PluginTestHarness(name: name) { SwiftLogPlugin(context: $0) }
            try await harness.start()
            let record = try await harness.waitForRecord(containing: "swift-log from \(name)", within: .seconds(5))
            XCTAssertEqual(record.plugin, name)
            XCTAssertEqual(record.label, "bridged")
            XCTAssertEqual(harness.pluginRecords.map(\.message), ["swift-log from \(name)"], "\(harness.records)")
            _ = await harness.shutdown()
        }
    }

    func testWaitForRecordGivesUpAfterItsTimeLimit() async throws {
        let harness = await PluginTestHarness { QuittingPlugin(context: $0) }
        do {
            try await harness.waitForRecord(containing: "never logged", within: .milliseconds(50))
            XCTFail("expected a timeout")
        } catch let timeout as HarnessTimeout {
            XCTAssertEqual(timeout.waitingFor, "never logged")
        }
    }

    /// Waits (at most 5 s) until `condition` holds; fails the test otherwise.
    private func waitUntil(
        _ condition: () -> Bool,
        file: StaticString = #filePath,
        line: UInt = #line
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            if ContinuousClock.now > deadline {
                XCTFail("condition not met within 5 s", file: file, line: line)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
