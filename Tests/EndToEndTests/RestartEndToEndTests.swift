import Foundation
import XCTest

/// Restart on failure, with a budget (issue 13; README, "Restart on failure"), with the real host,
/// the Faulty fixture and real signals. Every wait is bounded.
///
/// Faulty's `fail-times` mode fails instances 1 to `fail-count` of a plugin name (counted in a
/// global of the library, which a restart keeps loaded) and lets the next one work; each `run()`
/// logs `faulty run started (instance N)`. Plugin `a` (ready at once) sits before the failing `b`
/// to show that a restart leaves other plugins alone.
final class RestartEndToEndTests: XCTestCase {
    /// `a` ready at once and `b` configured by `b`, both exported `whenReported`.
    private func host(b: [String], options: [String]) throws -> ChildProcess {
        let faulty = Products.plugin("faulty")
        return try ChildProcess.host(
            ["a=\(faulty)", "b=\(faulty)", "--set", "a.mode=ready-after", "--set", "a.delay-ms=0"]
                + b.flatMap { ["--set", "b.\($0)"] } + options,
            environment: ReadinessEndToEndTests.reported
        )
    }

    /// A plugin that throws twice before it is ready, then works: restarted twice with a growing
    /// delay, each failed instance torn down, then ready with `(restart 2)`; the host becomes ready,
    /// stays up, exits 0 at SIGTERM, and its report shows 2 restarts for b and none for a.
    func testPluginThatThrowsTwiceIsRestartedAndStaysUp() throws {
        let host = try host(
            b: ["mode=fail-times", "fail-count=2", "delay-ms=50"],
            options: ["--restart", "b=on-failure"]
        )
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        try host.waitForLine(containing: "[b] faulty working (instance 3)", within: .seconds(10))
        let transcript = host.transcript
        let first = try XCTUnwrap(
            host.lines(containing: "plugin b failed: run() threw: boom in instance 1 of 2").first,
            transcript
        )
        XCTAssertTrue(first.contains("restarting in 0.100s (restart 1 of at most 5 within 60.000s)"), first)
        let second = try XCTUnwrap(
            host.lines(containing: "plugin b failed: run() threw: boom in instance 2 of 2").first,
            transcript
        )
        XCTAssertTrue(second.contains("restarting in 0.200s (restart 2 of at most 5 within 60.000s)"), second)
        let readyLine = try XCTUnwrap(host.lines(containing: "plugin b ready in").first, transcript)
        XCTAssertTrue(readyLine.contains("ready in") && readyLine.contains("(restart 2)"), readyLine)

        // Each failure: the failed instance is torn down (its usual line), then a fresh one runs.
        var position = 0
        for instance in 1...3 {
            let started = host.index(of: "[b] faulty run started (instance \(instance))", from: position)
            XCTAssertNotNil(started, "instance \(instance) did not run after the last teardown:\n\(transcript)")
            position = started ?? position
            if instance < 3 {
                let failed = host.index(
                    of: "plugin b failed: run() threw: boom in instance \(instance)",
                    from: position
                )
                let stopped = host.index(of: "stopped plugin b", from: failed ?? position)
                XCTAssertNotNil(stopped, "instance \(instance) was not torn down before the next:\n\(transcript)")
                position = stopped ?? position
            }
        }
        XCTAssertLessThan(
            host.index(of: "plugin b ready in") ?? .max,
            host.index(of: "ready: 2 plugins running") ?? .min,
            transcript
        )
        // Other plugins untouched: a ran once and was not stopped.
        XCTAssertEqual(host.lines(containing: "[a] faulty run started").count, 1, transcript)
        XCTAssertNil(host.index(of: "stopped plugin a"), transcript)

        // It stays up: no further failure while it runs.
        usleep(500_000)
        XCTAssertNil(host.index(of: "[b] faulty run started (instance 4)"), host.transcript)
        XCTAssertTrue(host.process.isRunning, host.transcript)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertEqual(host.reportedRestarts(of: "b"), 2, host.transcript)
        XCTAssertEqual(host.reportedRestarts(of: "a"), 0, host.transcript)
    }

    /// A plugin that reports a failure after it was ready (a server whose listener died) is
    /// restarted the same way, while the host runs on.
    func testReportedFailureAfterReadyRestartsThePlugin() throws {
        let host = try host(
            b: ["mode=report-failure", "fail-count=1", "delay-ms=100"],
            options: ["--restart", "on-failure"]
        )
        try host.waitForLine(containing: "[b] faulty working (instance 2)", within: .seconds(60))
        // The host's line comes from its control loop, after the plugin's own line at times.
        try host.waitForLine(containing: "ready in", andAlso: "(restart 1)", within: .seconds(10))
        let transcript = host.transcript
        let failed = try XCTUnwrap(
            host.lines(containing: "plugin b failed: reported failure: listener died in instance 1 of 1").first,
            transcript
        )
        XCTAssertTrue(failed.contains("restarting in 0.100s (restart 1 of at most 5 within 60.000s)"), failed)
        XCTAssertTrue(
            host.lines(containing: "plugin b ready in").last?.contains("(restart 1)") ?? false,
            transcript
        )
        // Ready before the failure: the host announced readiness once, with the first instance.
        XCTAssertEqual(host.lines(containing: "ready: 2 plugins running").count, 1, transcript)
        XCTAssertLessThan(
            host.index(of: "ready: 2 plugins running") ?? .max,
            host.index(of: "plugin b failed") ?? .min,
            transcript
        )
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertEqual(host.reportedRestarts(of: "b"), 1, host.transcript)
    }

    /// A plugin that keeps failing after it was ready spends its budget (`--restart-max 2`): its
    /// third failure stops the host, which names the plugin and its last error, tears everything
    /// down in reverse order and exits 71. No fourth instance is created.
    func testPluginThatKeepsFailingSpendsItsBudgetAndStopsTheHost() throws {
        let host = try host(
            b: ["mode=fail-times", "fail-count=1000", "fail-after-ready=true", "delay-ms=50"],
            options: ["--restart", "b=on-failure", "--restart-max", "b=2"]
        )
        try host.expectExit(71, within: .seconds(60))
        let transcript = host.transcript
        let spent = try XCTUnwrap(host.lines(containing: "restart budget spent").first, transcript)
        XCTAssertTrue(
            spent.contains(
                "plugin b failed: run() threw: boom in instance 3 of 1000; restart budget spent (2 restarts within 60.000s)"
            ),
            spent
        )
        XCTAssertTrue(
            transcript.contains(
                "shutdown report: trigger=plugin b spent its restart budget; last error: run() threw: boom in instance 3 of 1000"
            ),
            transcript
        )
        XCTAssertEqual(host.lines(containing: "restarting in").count, 2, transcript)
        XCTAssertNil(host.index(of: "[b] faulty run started (instance 4)"), transcript)
        // Reverse order: b's last teardown, then a's.
        let stoppedB = host.lastIndex(of: "stopped plugin b") ?? .max
        let stoppedA = host.index(of: "stopped plugin a") ?? .min
        XCTAssertLessThan(host.index(of: "restart budget spent") ?? .max, stoppedA, transcript)
        XCTAssertLessThan(stoppedB, stoppedA, transcript)
        XCTAssertEqual(host.reportedRestarts(of: "b"), 2, transcript)
    }

    /// The same from a config file (README, "Command line"): the failing plugin's own
    /// `[[plugin]]` entry says `restart = "on-failure"`, `restart-max = 1` and a
    /// `startup-timeout`. One restart, then the second failure spends the budget: exit 71.
    func testRestartPolicyFromTheConfigFile() throws {
        let folder = try Scratch.folder(for: self)
        let config = folder.appendingPathComponent("restart.toml")
        let faulty = Products.plugin("faulty")
        try """
        [[plugin]]
        load = "\(faulty)"
        alias = "a"
        [plugin.config]
        mode = "ready-after"
        delay-ms = "0"

        [[plugin]]
        load = "\(faulty)"
        alias = "b"
        restart = "on-failure"
        restart-max = 1
        startup-timeout = 5
        [plugin.config]
        mode = "fail-times"
        fail-count = "1000"
        fail-after-ready = "true"
        delay-ms = "50"
        """.write(to: config, atomically: true, encoding: .utf8)
        let host = try ChildProcess.host(["--config", config.path], environment: ReadinessEndToEndTests.reported)
        try host.expectExit(71, within: .seconds(60))
        let transcript = host.transcript
        XCTAssertEqual(host.lines(containing: "restarting in").count, 1, transcript)
        XCTAssertTrue(
            host.lines(containing: "restart budget spent").first?.contains(
                "plugin b failed: run() threw: boom in instance 2 of 1000; restart budget spent (1 restarts within"
            ) ?? false,
            transcript
        )
        XCTAssertEqual(host.reportedRestarts(of: "b"), 1, transcript)
        XCTAssertEqual(host.reportedRestarts(of: "a"), 0, transcript)
    }

    /// A signal during a restart's delay starts the normal shutdown at once: with failures after
    /// ready the delay grows 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s; SIGTERM right after the sixth failure
    /// is logged ends the host well within those 3.2 s, with exit 0, and no seventh instance.
    func testSignalDuringRestartDelayShutsDownAtOnce() throws {
        let host = try host(
            b: ["mode=fail-times", "fail-count=1000", "fail-after-ready=true", "delay-ms=20"],
            options: ["--restart", "on-failure", "--restart-max", "10"]
        )
        let sixth = try host.waitForLine(containing: "(restart 6 of at most 10", within: .seconds(60))
        XCTAssertTrue(sixth.text.contains("restarting in 3.200s"), sixth.text)
        // SIGUSR1 tells where b is: its failed instance torn down (fast here), then the delay.
        let deadline = ContinuousClock.now + .seconds(10)
        while host.lines(containing: "stopped plugin b").count < 6 && ContinuousClock.now < deadline {
            usleep(5_000)
        }
        XCTAssertEqual(host.lines(containing: "stopped plugin b").count, 6, host.transcript)
        host.send(SIGUSR1)
        try host.waitForLine(containing: "  b: waiting to restart (6 restarts)", within: .seconds(10))
        XCTAssertNotNil(host.index(of: "  a: running"), host.transcript)
        let exit = try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertLessThan(exit.afterSignal, .seconds(2), "the host waited out the delay:\n\(host.transcript)")
        XCTAssertNil(host.index(of: "[b] faulty run started (instance 7)"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin a"), host.transcript)
        print("signal during a 3.2 s restart delay: exit \(exit.afterSignal) after SIGTERM")
    }
}
