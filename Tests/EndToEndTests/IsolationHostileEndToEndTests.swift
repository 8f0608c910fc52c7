import Foundation
import XCTest

/// Isolation under a hostile plugin (README, "Isolation"): the regressions of the adversarial
/// review. A helper process that keeps the child's stderr does not hide or delay the child's
/// crash and does not outlive it; a failure inside an isolated plugin is restarted as in process;
/// a crash during the child's own shutdown, or during the host's drain delay, is an abandonment
/// (exit 70), never a clean 0. Real host, real children, real signals; every wait is bounded.
final class IsolationHostileEndToEndTests: XCTestCase {
    private var crasher: String { Products.plugin("crasher") }

    /// Before the fix the host saw the crash only when the helper exited (60 s here) and spun a
    /// core meanwhile; the helper outlived everything.
    func testAHelperHoldingStderrNeitherDelaysTheCrashNorOutlivesIt() throws {
        let host = try ChildProcess.host([
            "--isolate", crasher, "--set", "crasher.mode=grandchild", "--set", "crasher.delay-ms=300",
        ])
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        let spawned = try host.waitForLine(containing: "crasher grandchild ", within: .seconds(60))
        let helper = try XCTUnwrap(pid_t(spawned.text.split(separator: " ").last ?? ""), spawned.text)
        let crash = try host.waitForLine(containing: "died of signal 11 (SIGSEGV)", within: .seconds(10))
        XCTAssertLessThan(crash.at - spawned.at, .seconds(5), host.transcript)
        try host.expectExit(72, within: .seconds(30))
        let deadline = ContinuousClock.now + .seconds(5)
        while kill(helper, 0) == 0, ContinuousClock.now < deadline {
            // A zombie until init reaps it: gone for the test's purpose.
            if let stat = ProcessStat(pid: helper), stat.state == "Z" { break }
            usleep(20_000)
        }
        let left = ProcessStat(pid: helper).map { $0.state != "Z" } ?? false
        if left { kill(helper, SIGKILL) }
        XCTAssertFalse(left, "the plugin's helper outlived its process\n\(host.transcript)")
    }

    /// `run()` throwing in an isolated plugin with `--restart on-failure` restarts it in a fresh
    /// process, as in process (before the fix its process ran on with a dead plugin).
    func testAFailureInsideAnIsolatedPluginIsRestarted() throws {
        let host = try ChildProcess.host([
            "--isolate", "--restart", "on-failure", Products.plugin("faulty"), "--set", "faulty.mode=throw-run",
            "--set", "faulty.delay-ms=200",
        ])
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        try host.waitForLine(
            containing:
                "plugin faulty failed: its plugin failed in its process: run() threw: boom in run(); restarting in 0.100s",
            within: .seconds(60)
        )
        try host.waitForLine(containing: "plugin faulty ready in", within: .seconds(30))
        try host.waitForLine(containing: "(restart 1)", within: .seconds(30))
        host.send(SIGTERM)
        try host.expectExit(0, within: .seconds(30))
    }

    /// A child that crashes in the middle of the shutdown it asked for: the host takes the
    /// shutdown over, names the crash, and exits 70 (it was 0, the crash unmentioned).
    func testACrashDuringTheChildsOwnShutdownIsAnAbandonment() throws {
        let host = try ChildProcess.host([
            "--isolate", Products.plugin("hello"), crasher, "--set", "crasher.mode=request-then-crash",
            "--set", "crasher.delay-ms=200",
        ])
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        try host.expectExit(70, within: .seconds(60))
        let transcript = host.transcript
        XCTAssertNotNil(
            host.index(of: "died of signal 11 (SIGSEGV)"),
            "the crash is named\n\(transcript)"
        )
        XCTAssertNotNil(host.index(of: "once its own shutdown had started (requestShutdown from crasher"), transcript)
        XCTAssertNotNil(host.index(of: "shutdown report: trigger=requestShutdown from crasher"), transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin hello"), transcript)
    }

    /// A crash during the host's drain delay is an abandonment (70), not a clean stop (it was 0).
    func testACrashDuringTheDrainDelayIsAnAbandonment() throws {
        let host = try ChildProcess.host([
            "--isolate", "--drain-delay", "2", Products.plugin("hello"), crasher, "--set", "crasher.mode=segv",
            "--set", "crasher.delay-ms=1000",
        ])
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        host.send(SIGTERM)
        try host.waitForLine(containing: "draining for 2.000s", within: .seconds(10))
        try host.waitForLine(containing: "died of signal 11 (SIGSEGV)", within: .seconds(10))
        try host.expectExit(70, within: .seconds(30))
        XCTAssertNotNil(host.index(of: "its process, which died of signal 11 (SIGSEGV)"), host.transcript)
    }
}
