import Foundation
import XCTest

/// How a process ended after a test stopped it: its exit code, when it exited, and when the
/// signal that stopped it was sent.
struct StoppedProcess {
    /// The exit code (128 + signal if a signal killed it).
    let code: Int32
    /// When the process exited.
    let at: ContinuousClock.Instant
    /// When the signal was sent.
    let signalled: ContinuousClock.Instant

    /// From the signal to the exit.
    var afterSignal: Duration { at - signalled }
}

/// The end-to-end tests' most common shape: signal the process, then expect an exit code.
extension ChildProcess {
    /// Sends `signal`, waits at most `timeout` for the exit, and fails the test (with the
    /// transcript) unless the exit code is `code`. Throws only if the process did not exit.
    @discardableResult
    func stop(
        with signal: Int32,
        expecting code: Int32,
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> StoppedProcess {
        let signalled = ContinuousClock.now
        send(signal)
        let exit = try waitForExit(within: timeout, file: file, line: line)
        XCTAssertEqual(exit.code, code, transcript, file: file, line: line)
        return StoppedProcess(code: exit.code, at: exit.at, signalled: signalled)
    }

    /// Waits at most `timeout` for the process to exit on its own, and fails the test (with the
    /// transcript) unless the exit code is `code`. Returns the exit code and when it exited.
    @discardableResult
    func expectExit(
        _ code: Int32,
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (code: Int32, at: ContinuousClock.Instant) {
        let exit = try waitForExit(within: timeout, file: file, line: line)
        XCTAssertEqual(exit.code, code, transcript, file: file, line: line)
        return exit
    }
}
