import Logging
import XCTest

@testable import AioRunHost

/// The option rules the command line and the config file share (README, "Command line").
final class HostOptionRulesTests: XCTestCase {
    func testTaskShutdownTimeoutBounds() {
        let rule = HostOptionRules.taskShutdownTimeout
        XCTAssertEqual(rule.value(0), .zero)
        XCTAssertEqual(rule.value(1.5), .milliseconds(1500))
        XCTAssertEqual(rule.value(HostOptionRules.oneYear), .seconds(86_400 * 365))
        XCTAssertNil(rule.value(HostOptionRules.oneYear + 1))
        XCTAssertNil(rule.value(-0.001))
        XCTAssertNil(rule.value(.infinity))
        XCTAssertNil(rule.value(.nan))
    }

    func testLoadTimeoutIsAboveZeroAndNeverRoundsToZero() {
        let rule = HostOptionRules.loadTimeout
        XCTAssertNil(rule.value(0))
        XCTAssertEqual(rule.value(1e-12), .nanoseconds(1))
        XCTAssertEqual(rule.value(2), .seconds(2))
    }

    func testExecutorWorkersLogLevelAndFormat() {
        XCTAssertNil(HostOptionRules.executorWorkers.value(0))
        XCTAssertEqual(HostOptionRules.executorWorkers.value(1), 1)
        XCTAssertNil(HostOptionRules.executorWorkers.value(1025))
        XCTAssertEqual(HostOptionRules.logLevel.value("warning"), .warning)
        XCTAssertNil(HostOptionRules.logLevel.value("WARNING"))
        XCTAssertEqual(HostOptionRules.logFormat.value("json"), .json)
        XCTAssertNil(HostOptionRules.logFormat.value("JSON"))
    }
}
