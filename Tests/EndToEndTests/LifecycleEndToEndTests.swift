import Foundation
import XCTest

/// The real host, real plugins, real signals: README "How shutdown proceeds" and "Exit codes" end
/// to end. XCTest runs these one at a time; every wait is bounded generously for a loaded 2-core
/// CI machine.
final class LifecycleEndToEndTests: XCTestCase {
    let ready = "ready: "

    /// aiorun's seed example: `oh noes!` at once on SIGINT, `done!` when the shielded sleep ends,
    /// then exit 0.
    func testSeedScenarioShieldOutlivesCancelledCaller() throws {
        let host = try ChildProcess.host([Products.plugin("shield-demo"), "--set", "shield-demo.seconds=2"])
        let readyLine = try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        usleep(300_000)
        let signalled = ContinuousClock.now
        host.send(SIGINT)
        let ohNoes = try host.waitForLine(containing: "oh noes!", within: .seconds(5))
        XCTAssertLessThan(ohNoes.at - signalled, .milliseconds(300), "oh noes! must come at once")
        let done = try host.waitForLine(containing: "done!", within: .seconds(10))
        let sinceStart = done.at - readyLine.at
        XCTAssertGreaterThan(sinceStart, .milliseconds(1900), "done! must wait for the full 2 s sleep")
        XCTAssertLessThan(sinceStart, .milliseconds(3500))
        let exit = try host.expectExit(0, within: .seconds(10))
        XCTAssertLessThan(exit.at - done.at, .seconds(2))
        XCTAssertLessThan(host.index(of: "oh noes!")!, host.index(of: "done!")!)
        XCTAssertLessThan(host.index(of: "done!")!, host.index(of: "stopped plugin shield-demo")!)
    }

    /// Three plugins stop in reverse load order, each fully before the next starts: hello's
    /// shutdown callback does not run until shield-demo's shielded work has finished.
    func testTeardownIsReverseLoadOrderAndSequential() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), Products.plugin("ticker"), Products.plugin("shield-demo"),
            "--set", "shield-demo.seconds=1", "--set", "ticker.interval-ms=100",
        ])
        try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(20))
        let stopped = host.lines(containing: "stopped plugin").map { line in
            line.components(separatedBy: "stopped plugin ")[1].components(separatedBy: " ")[0]
        }
        XCTAssertEqual(stopped, ["shield-demo", "ticker", "hello"], host.transcript)
        let done = try XCTUnwrap(host.index(of: "done!"))
        let goodbye = try XCTUnwrap(host.index(of: "goodbye from hello"))
        let tickerStopped = try XCTUnwrap(host.index(of: "stopped plugin ticker"))
        XCTAssertLessThan(done, tickerStopped)
        XCTAssertLessThan(tickerStopped, goodbye, "hello's callbacks must wait for ticker's teardown")
        XCTAssertTrue(host.transcript.contains("shutdown report: trigger=SIGTERM"), host.transcript)
    }

    /// A running 1 s executor job delays the exit until it has finished (phase 4); no new job
    /// starts once shutdown has begun.
    func testRunningExecutorJobDelaysExitUntilItFinishes() throws {
        let host = try ChildProcess.host([Products.plugin("blocking"), "--set", "blocking.job-ms=1000"])
        let started = try host.waitForLine(containing: "job 1 started", within: .seconds(30))
        host.send(SIGTERM)
        let finished = try host.waitForLine(containing: "job 1 finished", within: .seconds(10))
        let exit = try host.expectExit(0, within: .seconds(10))
        XCTAssertGreaterThan(finished.at - started.at, .milliseconds(900))
        XCTAssertGreaterThanOrEqual(exit.at, finished.at)
        XCTAssertLessThan(host.index(of: "job 1 finished")!, host.index(of: "stopped plugin blocking")!)
        XCTAssertNil(host.index(of: "job 2 started"), host.transcript)
    }

    /// A plugin that ignores cancellation is abandoned at its time limit: exit 70, the task named,
    /// and the plugins before it are still torn down afterwards.
    func testTimeLimitAbandonsStuckPluginAndNamesIt() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "0.5", Products.plugin("hello"), Products.plugin("faulty"),
            "--set", "faulty.mode=ignore-cancel",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(30))
        let exit = try host.stop(with: SIGTERM, expecting: 70, within: .seconds(15))
        XCTAssertLessThan(exit.afterSignal, .seconds(5))
        let limit = try XCTUnwrap(host.lines(containing: "time limit of 0.500s expired").first, host.transcript)
        XCTAssertTrue(limit.contains("[faulty]") && limit.contains("task \"spin\""), limit)
        XCTAssertLessThan(host.index(of: "stopped plugin faulty")!, host.index(of: "goodbye from hello")!)
        XCTAssertNotNil(host.index(of: "stopped plugin hello"))
    }

    /// A second signal during shutdown lists what is still running and exits at once with 128+2.
    func testSecondSignalExitsAtOnceWith128PlusSignal() throws {
        let host = try ChildProcess.host([Products.plugin("shield-demo"), "--set", "shield-demo.seconds=30"])
        try host.waitForLine(containing: ready, within: .seconds(30))
        host.send(SIGINT)
        try host.waitForLine(containing: "oh noes!", within: .seconds(5))
        let exit = try host.stop(with: SIGINT, expecting: 130, within: .seconds(5))
        XCTAssertLessThan(exit.afterSignal, .seconds(2))
        XCTAssertTrue(
            host.transcript.contains("still running in shield-demo: shield \"sleep then print done!\""),
            host.transcript
        )
        XCTAssertFalse(
            host.output.contains { $0.text == "done!" },
            "the shield must not have finished:\n\(host.transcript)"
        )
    }

    /// With --stop-on-unhandled-errors a failing run() stops the host in reverse order, exit 1.
    func testStopOnUnhandledErrorsExitsOne() throws {
        let host = try ChildProcess.host([
            "--stop-on-unhandled-errors", Products.plugin("hello"), Products.plugin("faulty"),
            "--set", "faulty.mode=throw-run",
        ])
        try host.expectExit(1, within: .seconds(30))
        let failure = try XCTUnwrap(host.lines(containing: "boom in run()").first, host.transcript)
        XCTAssertTrue(failure.contains("[faulty]") && failure.contains("task \"run()\" failed"), failure)
        XCTAssertLessThan(host.index(of: "stopped plugin faulty")!, host.index(of: "stopped plugin hello")!)
    }

    /// Without the flag, the same failure is logged with the plugin's name and the host runs on.
    func testUnhandledErrorIsLoggedAndHostKeepsRunningByDefault() throws {
        let host = try ChildProcess.host([
            Products.plugin("faulty"), "--set", "faulty.mode=throw-task", "--set", "faulty.delay-ms=50",
        ])
        let failure = try host.waitForLine(containing: "boom in a spawned task", within: .seconds(30))
        XCTAssertTrue(failure.text.contains("[faulty]") && failure.text.contains("doomed task"), failure.text)
        usleep(300_000)
        XCTAssertTrue(host.process.isRunning, "the host must keep running:\n\(host.transcript)")
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
    }

    /// `alias=<plugin>` loads one library twice as two instances with their own names and config.
    func testAliasLoadsOnePluginTwice() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), "again=\(Products.plugin("hello"))", "--set", "again.greeting=hi",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(30))
        let first = try host.waitForLine(containing: "hello from hello", within: .seconds(5))
        let second = try host.waitForLine(containing: "hello from again", within: .seconds(5))
        XCTAssertTrue(first.text.contains("[hello]") && first.text.contains("greeting=hello"), first.text)
        XCTAssertTrue(second.text.contains("[again]") && second.text.contains("greeting=hi"), second.text)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        XCTAssertLessThan(host.index(of: "goodbye from again")!, host.index(of: "goodbye from hello")!)
    }

    /// A plugin's own swift-log loggers reach the host's output through the bridge, named with
    /// the plugin.
    func testPluginSwiftLogReachesHostThroughBridge() throws {
        let host = try ChildProcess.host([Products.plugin("ticker"), "--set", "ticker.interval-ms=100"])
        let tick = try host.waitForLine(containing: "tick 2", within: .seconds(30))
        XCTAssertTrue(tick.text.contains(" info [ticker] tick 2"), tick.text)
        try host.stop(with: SIGINT, expecting: 0, within: .seconds(10))
    }

    /// `requestShutdown` from a plugin stops the host cleanly, exit 0.
    func testRequestShutdownExitsZero() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), Products.plugin("faulty"), "--set", "faulty.mode=request-shutdown",
        ])
        try host.expectExit(0, within: .seconds(30))
        XCTAssertTrue(host.transcript.contains("faulty asked to stop"), host.transcript)
        XCTAssertNotNil(host.index(of: "goodbye from hello"))
    }

    /// A shield first started during teardown (from a cancelled task) is waited for too, unlike
    /// aiorun, which drops it.
    func testShieldStartedDuringTeardownIsWaitedFor() throws {
        let host = try ChildProcess.host([
            Products.plugin("faulty"), "--set", "faulty.mode=late-shield", "--set", "faulty.delay-ms=500",
        ])
        try host.waitForLine(containing: ready, within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        let done = try XCTUnwrap(host.index(of: "late shield done"), host.transcript)
        XCTAssertLessThan(done, host.index(of: "stopped plugin faulty")!)
    }

    /// Shielded work that fails after its caller was cancelled is logged, never dropped.
    func testShieldErrorAfterCallerGoneIsLogged() throws {
        let host = try ChildProcess.host([
            Products.plugin("faulty"), "--set", "faulty.mode=shield-throws", "--set", "faulty.delay-ms=300",
        ])
        try host.waitForLine(containing: ready, within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        let line = try XCTUnwrap(
            host.lines(containing: "boom in a shield whose caller had gone").first,
            host.transcript
        )
        XCTAssertTrue(line.contains("[faulty]") && line.contains("shield \"failing shield\""), line)
    }
}
