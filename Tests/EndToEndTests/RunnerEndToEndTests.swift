import Foundation
import XCTest

/// The in-process runner in real programs with real signals (README, "In-process use"): the
/// process is as it was once the runner returns, whichever way the shutdown started; the
/// shutdown handler; stopping with an error; the log level; the free functions and a shield
/// cancelled on purpose; and the README's Swift twin of an aiorun program.
final class RunnerEndToEndTests: XCTestCase {
    /// Runs the probe's `restore-<how>` scenario, starting its shutdown with `start` (nil: the
    /// program starts it itself), then checks that the dispositions after the runner returned
    /// are the ones before it started (SIGHUP ignored, as under nohup; the rest default), that a
    /// SIGHUP is still ignored, and that `then` ends the process by its default action, with no
    /// trace of the runner's handling.
    private func checkRestored(
        _ how: String,
        start: Int32?,
        then: Int32,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let program = try ChildProcess(Products.runnerProbe, ["restore-\(how)"])
        try program.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30), file: file, line: line)
        if let start { program.send(start) }
        try program.waitForLine(containing: "runner returned", within: .seconds(10), file: file, line: line)
        let before = try program.waitForLine(containing: "before: ", within: .seconds(1), file: file, line: line)
        let after = try program.waitForLine(containing: "after: ", within: .seconds(1), file: file, line: line)
        XCTAssertEqual(
            after.text.replacingOccurrences(of: "after: ", with: ""),
            before.text.replacingOccurrences(of: "before: ", with: ""),
            program.transcript,
            file: file,
            line: line
        )
        XCTAssertTrue(before.text.contains("SIGTERM=SIG_DFL SIGHUP=SIG_IGN"), before.text, file: file, line: line)
        // Still ignored: had the runner left SIGHUP at its default, the process would be gone.
        program.send(SIGHUP)
        usleep(300_000)
        XCTAssertTrue(program.process.isRunning, program.transcript, file: file, line: line)
        try program.stop(with: then, expecting: 128 + then, within: .seconds(10), file: file, line: line)
        XCTAssertNil(program.index(of: "second signal"), program.transcript, file: file, line: line)
        XCTAssertNil(program.index(of: "no signal came"), program.transcript, file: file, line: line)
    }

    func testDispositionsAreRestoredAfterASignalStartedShutdown() throws {
        try checkRestored("signal", start: SIGINT, then: SIGTERM)
    }

    func testDispositionsAreRestoredAfterRequestShutdown() throws {
        try checkRestored("request", start: nil, then: SIGINT)
    }

    func testDispositionsAreRestoredAfterAnErrorStoppedTheProgram() throws {
        try checkRestored("error", start: nil, then: SIGTERM)
        // The error came back to the caller (README, "In-process use").
    }

    /// The runner that returns throws the error that stopped the program, and the code after it
    /// runs.
    func testTheReturningRunnerThrowsTheErrorThatStoppedIt() throws {
        let program = try ChildProcess(Products.runnerProbe, ["restore-error"])
        try program.waitForLine(containing: "runner threw failed", within: .seconds(30))
        try program.waitForLine(containing: "runner returned", within: .seconds(5))
        try program.stop(with: SIGTERM, expecting: 128 + SIGTERM, within: .seconds(10))
    }

    /// A shutdown handler replaces what the first signal does: it finishes its unit of work,
    /// then stops the program, whose teardown runs as usual; exit 0.
    func testAShutdownHandlerFinishesItsWorkThenStops() throws {
        let program = try ChildProcess(Products.runnerProbe, ["handler"])
        try program.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        let signalled = ContinuousClock.now
        program.send(SIGTERM)
        try program.waitForLine(containing: "handler: SIGTERM", within: .seconds(5))
        let finished = try program.waitForLine(containing: "unit of work finished", within: .seconds(10))
        XCTAssertGreaterThan(finished.at - signalled, .milliseconds(450))
        try program.waitForLine(containing: "onShutdown ran", within: .seconds(5))
        try program.expectExit(0, within: .seconds(10))
        let unitOfWork = try XCTUnwrap(program.index(of: "unit of work finished"))
        let callback = try XCTUnwrap(program.index(of: "onShutdown ran"))
        XCTAssertLessThan(unitOfWork, callback, "the teardown starts only once the handler stopped the program")
        XCTAssertNotNil(
            program.index(of: "shutdown started by requestShutdown from main (work finished after SIGTERM)"),
            program.transcript
        )
    }

    /// A handler that never stops the program leaves it running; a second signal forces the exit.
    func testASecondSignalStillForcesTheExitPastAHandler() throws {
        let program = try ChildProcess(Products.runnerProbe, ["handler-stuck"])
        try program.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        program.send(SIGTERM)
        try program.waitForLine(containing: "handler: SIGTERM; staying up", within: .seconds(5))
        usleep(300_000)
        XCTAssertTrue(program.process.isRunning, program.transcript)
        XCTAssertNil(program.index(of: "shutdown started"), program.transcript)
        try program.stop(with: SIGTERM, expecting: 128 + SIGTERM, within: .seconds(10))
        XCTAssertNotNil(program.index(of: "second signal SIGTERM"), program.transcript)
    }

    /// `requestShutdown(error:)`: the teardown runs and the exit code is 3 (README, "Exit codes").
    func testStoppingWithAnErrorExits3() throws {
        let program = try ChildProcess(Products.runnerProbe, ["stop-error"])
        try program.expectExit(3, within: .seconds(30))
        XCTAssertNotNil(program.index(of: "stopping because of an error: badConfig"), program.transcript)
        XCTAssertNotNil(program.index(of: "onShutdown ran"), program.transcript)
        XCTAssertNotNil(program.index(of: "exit=3"), program.transcript)
    }

    /// `run(logLevel: .warning)`: the runtime's notices and the program's info records are dropped,
    /// its warnings kept; no swift-log import in the program.
    func testTheLogLevelIsSettableWithoutSwiftLog() throws {
        let program = try ChildProcess(Products.runnerProbe, ["log-level"])
        try program.expectExit(0, within: .seconds(30))
        XCTAssertNotNil(program.index(of: "warning from main"), program.transcript)
        XCTAssertNil(program.index(of: "info from main"), program.transcript)
        XCTAssertNil(program.index(of: "ready: 1 plugins running"), program.transcript)
        XCTAssertNil(program.index(of: "shutdown report"), program.transcript)
    }

    /// The free functions, and two shields: one cancelled on purpose (its work stops at once), one
    /// that the shutdown waits for.
    func testFreeFunctionsAndAShieldCancelledOnPurpose() throws {
        let program = try ChildProcess(Products.runnerProbe, ["free-functions"])
        try program.expectExit(0, within: .seconds(30))
        let order = [
            "executor gave 55", "shields started", "upload cancelled on purpose", "upload value: CancellationError",
            "onShutdown bye", "ticker cancelled", "flush done", "stopped plugin main",
        ]
        let indices = order.map { program.index(of: $0) }
        XCTAssertFalse(indices.contains(nil), program.transcript)
        XCTAssertEqual(indices.compactMap { $0 }, indices.compactMap { $0 }.sorted(), program.transcript)
    }

    /// The README's Swift twin of an aiorun program: on SIGTERM the callback runs first, `main` is
    /// cancelled while its shielded work runs on, and the code after the runner runs; exit 0.
    func testTheSwiftTwinBehavesAsItsAiorunProgram() throws {
        let program = try ChildProcess(Products.inProcessTwin, [])
        try program.waitForLine(containing: "digest 499999500000", within: .seconds(30))
        try program.waitForLine(containing: "tick 1", within: .seconds(5))
        program.send(SIGTERM)
        try program.expectExit(0, within: .seconds(15))
        let order = ["closing connections", "main cancelled; saving continues", "state saved", "after run"]
        let indices = order.map { program.index(of: $0) }
        XCTAssertFalse(indices.contains(nil), program.transcript)
        XCTAssertEqual(indices.compactMap { $0 }, indices.compactMap { $0 }.sorted(), program.transcript)
    }
}
