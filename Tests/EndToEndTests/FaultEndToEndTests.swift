import Foundation
import XCTest

/// Faults inside plugins are contained and reported with the plugin's name; the host never
/// hangs, and the other plugins are still torn down in order.
final class FaultEndToEndTests: XCTestCase {
    func testExecutorJobErrorReachesItsTaskAndIsLogged() throws {
        let host = try ChildProcess.host([Products.plugin("faulty"), "--set", "faulty.mode=job-throws"])
        let line = try host.waitForLine(containing: "boom in an executor job", within: .seconds(30))
        XCTAssertTrue(
            line.text.contains("[faulty]") && line.text.contains("task \"awaits failing job\" failed"),
            line.text
        )
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
    }

    func testThrowingShutdownCallbackIsLoggedAndTeardownGoesOn() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), Products.plugin("faulty"), "--set", "faulty.mode=callback-throws",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        let line = try XCTUnwrap(host.lines(containing: "boom in onShutdown").first, host.transcript)
        XCTAssertTrue(line.contains("[faulty]") && line.contains("onShutdown \"throwing callback\" failed"), line)
        XCTAssertLessThan(host.index(of: "stopped plugin faulty")!, host.index(of: "goodbye from hello")!)
    }

    func testThrowingShutdownCallbackWithStopOnErrorsExitsOne() throws {
        let host = try ChildProcess.host([
            "--stop-on-unhandled-errors", Products.plugin("faulty"), "--set", "faulty.mode=callback-throws",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 1, within: .seconds(10))
    }

    func testHangingShutdownCallbackIsAbandonedAtTheTimeLimit() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "0.5", Products.plugin("hello"), Products.plugin("faulty"),
            "--set", "faulty.mode=callback-hangs",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 70, within: .seconds(10))
        let line = try XCTUnwrap(host.lines(containing: "expired during callbacks").first, host.transcript)
        XCTAssertTrue(line.contains("[faulty]") && line.contains("callback \"hanging callback\""), line)
        XCTAssertLessThan(host.index(of: "stopped plugin faulty")!, host.index(of: "goodbye from hello")!)
    }

    /// A plugin blocking every cooperative thread with synchronous sleeps: the host still sees
    /// the signal and enforces the time limits from its own control thread, names the blocked
    /// tasks, and exits 70. The other plugin's callback cannot run on the blocked pool and is
    /// abandoned at its own limit (README, Failure modes).
    func testPluginBlockingTheCooperativePoolCannotStopSignalsOrTimeLimits() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "1", Products.plugin("hello"), Products.plugin("faulty"),
            "--set", "faulty.mode=block-pool", "--set", "faulty.delay-ms=60000",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        usleep(200_000)
        let exit = try host.stop(with: SIGTERM, expecting: 70, within: .seconds(20))
        XCTAssertLessThan(exit.afterSignal, .seconds(8), "two 1 s limits, not the 60 s sleeps")
        let faulty = try XCTUnwrap(
            host.lines(containing: "[faulty] time limit of 1.000s expired").first,
            host.transcript
        )
        XCTAssertTrue(faulty.contains("task \"blocker 0\""), faulty)
        XCTAssertNotNil(host.index(of: "stopped plugin hello"), host.transcript)
    }

    /// A cancellation handler is plugin code that runs on the cancelling thread. One that blocks
    /// must not stall the host's time limit (it is not run on the control thread).
    func testBlockingCancellationHandlerCannotBypassTheTimeLimit() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "1", Products.plugin("faulty"),
            "--set", "faulty.mode=blocking-cancel-handler", "--set", "faulty.delay-ms=8000",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        usleep(200_000)
        let exit = try host.stop(with: SIGTERM, expecting: 70, within: .seconds(20))
        XCTAssertLessThan(exit.afterSignal, .seconds(5), "the 1 s limit, not the 8 s handler")
    }

    /// After a plugin's requestShutdown, the first signal (systemd's stop, say) must not force
    /// the exit: only a second signal does.
    func testFirstSignalAfterRequestShutdownDoesNotForceTheExit() throws {
        let host = try ChildProcess.host([
            Products.plugin("shield-demo"), "--set", "shield-demo.seconds=1.5",
            Products.plugin("faulty"), "--set", "faulty.mode=request-shutdown", "--set", "faulty.delay-ms=300",
        ])
        try host.waitForLine(containing: "shutdown requested: faulty asked to stop", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(20))
        XCTAssertTrue(host.output.contains { $0.text == "done!" }, host.transcript)
    }

    func testSecondSignalStillWorksWhileThePoolIsBlocked() throws {
        let host = try ChildProcess.host([
            Products.plugin("faulty"), "--set", "faulty.mode=block-pool", "--set", "faulty.delay-ms=60000",
        ])
        try host.waitForLine(containing: "ready:", within: .seconds(30))
        usleep(200_000)
        host.send(SIGTERM)
        try host.waitForLine(containing: "shutdown started by SIGTERM", within: .seconds(5))
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(10))
        XCTAssertLessThan(exit.afterSignal, .seconds(3))
    }
}
