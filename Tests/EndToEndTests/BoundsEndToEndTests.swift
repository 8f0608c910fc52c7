import Foundation
import XCTest

/// Issue 11, points 5 and 6: loading and creating plugins is bounded (`--load-timeout`), the
/// first signal during a hung load says what the host waits for, an `exit()` from plugin code
/// never looks like success; nothing is dropped silently (a late `onShutdown` callback is waited
/// for), and abandoning many tasks is summarised and keeps the time limit (README, "Failure
/// modes"). Every wait is bounded for a loaded 2-core machine.
final class BoundsEndToEndTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A C library whose constructor runs `body` (see `Scratch.constructorLibrary`).
    func constructorLibrary(_ name: String, _ body: String) throws -> String {
        try Scratch.constructorLibrary(name, body, in: scratch)
    }

    /// The one `aiorun-host: error:` line, checked to name `path` and `step`.
    @discardableResult
    func assertOneError(
        _ host: ChildProcess,
        naming path: String,
        step: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> String {
        let errors = host.lines(containing: "aiorun-host: error:")
        XCTAssertEqual(errors.count, 1, host.transcript, file: file, line: line)
        let message = errors.first ?? ""
        XCTAssertTrue(
            message.contains("plugin \(path): \(step): "),
            "\(path) / \(step) missing: \(message)",
            file: file,
            line: line
        )
        return message
    }

    // MARK: - Point 5: loading and creating plugins is bounded

    /// Before: the first SIGTERM during a hung initializer did nothing at all (no line, no limit).
    func testFirstSignalDuringHungInitializerSaysWhatItWaitsForThenTheLimitExits65() throws {
        let host = try ChildProcess.host([
            "--load-timeout", "4", Products.plugin("hello"), Products.plugin("faulty"), "--set",
            "faulty.init-delay-ms=600000",
        ])
        try host.waitForLine(containing: "faulty initializing", within: .seconds(30))
        let signalled = ContinuousClock.now
        host.send(SIGTERM)
        let said = try host.waitForLine(containing: "SIGTERM while plugins load", within: .seconds(5))
        XCTAssertLessThan(said.at - signalled, .seconds(2), "the first signal must be answered at once")
        XCTAssertTrue(said.text.contains("the initializer of plugin faulty"), said.text)
        XCTAssertTrue(said.text.contains("step create") && said.text.contains("running for "), said.text)
        XCTAssertTrue(said.text.contains("4.000s (--load-timeout)"), said.text)
        try host.expectExit(65, within: .seconds(20))
        let message = assertOneError(host, naming: Products.plugin("faulty"), step: "create")
        XCTAssertTrue(message.contains("load time limit of 4.000s"), message)
        XCTAssertNil(host.index(of: "ready:"), host.transcript)
        XCTAssertNil(host.index(of: "hello from hello"), "hello's run() was entered:\n\(host.transcript)")
    }

    /// The same with a C library whose constructor never returns (inside dlopen).
    func testHungLibraryConstructorIsNamedAndBounded() throws {
        let hang = try constructorLibrary("libhang.so", "for (;;) pause();")
        let host = try ChildProcess.host(["--load-timeout", "3", Products.plugin("hello"), hang])
        usleep(1_000_000)
        host.send(SIGTERM)
        let said = try host.waitForLine(containing: "SIGTERM while plugins load", within: .seconds(5))
        XCTAssertTrue(said.text.contains("plugin \(hang) to load"), said.text)
        try host.expectExit(65, within: .seconds(20))
        assertOneError(host, naming: hang, step: "load")
        XCTAssertNil(host.index(of: "ready:"), host.transcript)
    }

    /// No signal at all: the limit alone ends a hung load with 65, at the limit.
    func testHungLoadWithoutSignalExits65AtTheLimit() throws {
        let host = try ChildProcess.host([
            "--load-timeout", "2", Products.plugin("faulty"), "--set", "faulty.init-delay-ms=600000",
        ])
        let initializing = try host.waitForLine(containing: "faulty initializing", within: .seconds(30))
        let exit = try host.expectExit(65, within: .seconds(20))
        XCTAssertLessThan(exit.at - initializing.at, .seconds(6), "the 2 s limit, not the 600 s initializer")
        XCTAssertGreaterThan(exit.at - host.started, .milliseconds(1900))
        assertOneError(host, naming: Products.plugin("faulty"), step: "create")
    }

    /// A second signal during a hung load still forces the exit at once: 128 + SIGTERM.
    func testSecondSignalDuringHungLoadExitsAtOnce() throws {
        let host = try ChildProcess.host([Products.plugin("faulty"), "--set", "faulty.init-delay-ms=600000"])
        try host.waitForLine(containing: "faulty initializing", within: .seconds(30))
        host.send(SIGTERM)
        try host.waitForLine(containing: "SIGTERM while plugins load", within: .seconds(5))
        let second = ContinuousClock.now
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(10))
        XCTAssertLessThan(exit.at - second, .seconds(3), host.transcript)
    }

    /// Before: a constructor's `exit(0)` made `--check` exit 0 with no `ok` line. `--check` finds
    /// it in its pre-flight child; a plain run, in the host's own load.
    func testConstructorCallingExitZeroFailsTheCheck() throws {
        let bye = try constructorLibrary("libbye.so", "exit(0);")
        for (mode, step) in [(["--check"], "pre-flight"), ([], "load")] {
            let host = try ChildProcess.host(mode + [Products.plugin("hello"), bye])
            let exit = try host.waitForExit(within: .seconds(30))
            XCTAssertEqual(exit.code, 65, "\(mode): \(host.transcript)")
            let message = assertOneError(host, naming: bye, step: step)
            XCTAssertTrue(message.contains("exit(0)"), message)
            XCTAssertTrue(host.lines(containing: "ok ").isEmpty, host.transcript)
            XCTAssertNil(host.index(of: "ready:"), host.transcript)
        }
    }

    /// While plugins run, `exit(0)` from plugin code skips teardown: said in a critical line
    /// naming the plugin, and the code is 70, never the 0 of a clean shutdown. Another code is
    /// kept.
    func testExitFromPluginCodeWhileRunningIsNamedAndNeverLooksClean() throws {
        for (requested, expected) in [(0, Int32(70)), (3, Int32(3))] {
            let host = try ChildProcess.host([
                Products.plugin("faulty"), "--set", "faulty.mode=exit-in-run", "--set", "faulty.exit-code=\(requested)",
            ])
            let exit = try host.waitForExit(within: .seconds(30))
            XCTAssertEqual(exit.code, expected, host.transcript)
            let line = try XCTUnwrap(host.lines(containing: "called exit(\(requested))").first, host.transcript)
            XCTAssertTrue(
                line.contains("critical") && line.contains("plugin faulty") && line.contains("teardown is skipped"),
                line
            )
        }
    }

    // MARK: - Point 6: nothing is dropped silently

    /// Before: registered after phase 1 with the pool busy, the callback ran in an untracked task
    /// and was cut every time, with `[ok]` and exit 0.
    func testLateOnShutdownCallbackIsWaitedForEveryTime() throws {
        for run in 1...10 {
            let host = try ChildProcess.host([Products.plugin("faulty"), "--set", "faulty.mode=late-callback"])
            try host.waitForLine(containing: "faulty ready", within: .seconds(30))
            host.send(SIGTERM)
            let exit = try host.waitForExit(within: .seconds(20))
            XCTAssertEqual(exit.code, 0, "run \(run): \(host.transcript)")
            let done = try XCTUnwrap(host.index(of: "late callback done"), "run \(run): \(host.transcript)")
            let stopped = try XCTUnwrap(host.index(of: "stopped plugin faulty"), "run \(run): \(host.transcript)")
            XCTAssertLessThan(done, stopped, "run \(run): \(host.transcript)")
        }
    }

    /// The seconds in `stopped plugin <name> in 1.234s`.
    func stopTime(of name: String, in host: ChildProcess) throws -> Double {
        let line = try XCTUnwrap(host.lines(containing: "stopped plugin \(name) in ").first, host.transcript)
        let text = line.components(separatedBy: "stopped plugin \(name) in ")[1].components(separatedBy: "s ")[0]
        return try XCTUnwrap(Double(text), line)
    }

    /// Before: two lines of about 2 MB, and the 1 s limit ran to about 1.5 s. Now one expiry line
    /// of a few hundred bytes with counts by label, and the teardown ends within 10% of its limit
    /// (asserted with margin for a noisy machine).
    func testAbandoning64kTasksIsSummarisedAndKeepsTheLimit() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "1", Products.plugin("faulty"), "--set", "faulty.mode=stubborn-tasks",
        ])
        try host.waitForLine(containing: "stubborn tasks started", within: .seconds(60))
        usleep(300_000)
        host.send(SIGTERM)
        let exit = try host.waitForExit(within: .seconds(30))
        XCTAssertEqual(exit.code, 70, String(host.transcript.prefix(4000)))
        let expiry = try XCTUnwrap(
            host.lines(containing: "time limit of 1.000s expired").first,
            String(host.transcript.prefix(4000))
        )
        XCTAssertLessThan(expiry.utf8.count, 2048, expiry)
        XCTAssertTrue(expiry.contains("65536 items (65536 tasks)"), expiry)
        for label in 0..<4 {
            XCTAssertTrue(expiry.contains("task \"stubborn \(label)\" ×16384"), expiry)
        }
        XCTAssertTrue(expiry.contains("oldest: task \"stubborn"), expiry)
        let seconds = try stopTime(of: "faulty", in: host)
        print("BoundsEndToEndTests: 64k abandoned tasks, 1 s limit: stopped plugin faulty in \(seconds)s")
        XCTAssertLessThanOrEqual(seconds, 1.3, "the limit must hold within 10% (asserted with margin)")
        XCTAssertLessThan(host.transcript.utf8.count, 16_384, "no flood of log lines")
        XCTAssertTrue(host.lines(containing: " warning ").isEmpty, host.transcript)
    }

    /// Before: tasks looping on `try? await Task.sleep` once cancelled held every thread of the
    /// cooperative pool, and the time limit (a `Task.sleep` on the control thread, woken through
    /// that pool) never fired: the host hung until a second signal.
    func testTasksSpinningOnCancelledSleepCannotStopTheTimeLimit() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "1", Products.plugin("hello"), Products.plugin("faulty"),
            "--set", "faulty.mode=stubborn-tasks", "--set", "faulty.style=spin", "--set", "faulty.count=8",
        ])
        try host.waitForLine(containing: "stubborn tasks started", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 70, within: .seconds(20))
        XCTAssertLessThanOrEqual(try stopTime(of: "faulty", in: host), 1.3, host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin hello"), host.transcript)
    }

    /// Work that a stuck plugin keeps starting after it was abandoned is counted, not logged
    /// once per start: the warnings come at powers of two and say how many so far.
    func testWorkStartedAfterAPluginStoppedIsCountedNotFlooded() throws {
        let host = try ChildProcess.host([
            "--task-shutdown-timeout", "1", Products.plugin("shield-demo"), "--set", "shield-demo.seconds=2",
            Products.plugin("faulty"), "--set", "faulty.mode=stubborn-tasks", "--set", "faulty.style=shield",
            "--set", "faulty.count=256",
        ])
        try host.waitForLine(containing: "stubborn tasks started", within: .seconds(30))
        host.send(SIGTERM)
        let exit = try host.waitForExit(within: .seconds(30))
        XCTAssertEqual(exit.code, 70, String(host.transcript.prefix(4000)))
        let warnings = host.lines(containing: "started after the plugin stopped")
        XCTAssertFalse(warnings.isEmpty, String(host.transcript.prefix(4000)))
        XCTAssertLessThan(
            warnings.count,
            40,
            "\(warnings.count) warnings:\n\(warnings.prefix(5).joined(separator: "\n"))"
        )
        XCTAssertTrue(warnings.last?.contains("starts after the stop so far") ?? false, warnings.last ?? "")
    }
}
