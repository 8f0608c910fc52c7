import XCTest

@testable import AioRunHost

/// What the host tells systemd (README, "Running under systemd or Kubernetes").
final class SystemdNotifierTests: XCTestCase {
    func testStartAndRestartMessages() {
        XCTAssertEqual(SystemdNotifier.readyMessage(3), "READY=1\nSTATUS=running 3 plugins")
        XCTAssertEqual(
            SystemdNotifier.waitingMessage("web", limit: .milliseconds(2500)),
            "STATUS=starting: waiting for plugin web\nEXTEND_TIMEOUT_USEC=3500000"
        )
        XCTAssertEqual(
            SystemdNotifier.restartingMessage("web", attempt: 2),
            "STATUS=restarting plugin web (restart 2)"
        )
    }

    func testTeardownExtendsByTheLimitPlusOneSecond() {
        XCTAssertEqual(
            SystemdNotifier.teardownMessage("web", limit: .seconds(10)),
            "STATUS=stopping plugin web\nEXTEND_TIMEOUT_USEC=11000000"
        )
        XCTAssertEqual(SystemdNotifier.extendedMicroseconds(.zero), 1_000_000)
        XCTAssertEqual(SystemdNotifier.extendedMicroseconds(.nanoseconds(1500)), 1_000_001)
        XCTAssertEqual(SystemdNotifier.extendedMicroseconds(.seconds(86_400 * 365)), 31_536_001_000_000)
        XCTAssertEqual(SystemdNotifier.extendedMicroseconds(.seconds(-1)), 1_000_000)
    }
}
