import AioRun
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

    func testStartupTimeoutAndRestartWindowAreAboveZeroUpToOneYear() {
        for rule in [HostOptionRules.startupTimeout, HostOptionRules.restartWindow] {
            XCTAssertNil(rule.value(0), rule.name)
            XCTAssertEqual(rule.value(1e-12), .nanoseconds(1), rule.name)
            XCTAssertEqual(rule.value(0.5), .milliseconds(500), rule.name)
            XCTAssertEqual(rule.value(HostOptionRules.oneYear), .seconds(86_400 * 365), rule.name)
            XCTAssertNil(rule.value(HostOptionRules.oneYear + 1), rule.name)
            XCTAssertNil(rule.value(-1), rule.name)
            XCTAssertNil(rule.value(.nan), rule.name)
            XCTAssertNil(rule.value(.infinity), rule.name)
        }
    }

    func testDrainDelayIsZeroToOneYear() {
        let rule = HostOptionRules.drainDelay
        XCTAssertEqual(rule.value(0), .zero)
        XCTAssertEqual(rule.value(5), .seconds(5))
        XCTAssertEqual(rule.value(HostOptionRules.oneYear), .seconds(86_400 * 365))
        XCTAssertNil(rule.value(HostOptionRules.oneYear + 1))
        XCTAssertNil(rule.value(-0.001))
        XCTAssertNil(rule.value(.nan))
    }

    func testRestartPolicyAndBudget() {
        XCTAssertEqual(HostOptionRules.restart.value("no"), .no)
        XCTAssertEqual(HostOptionRules.restart.value("on-failure"), .onFailure)
        XCTAssertNil(HostOptionRules.restart.value("On-Failure"))
        XCTAssertNil(HostOptionRules.restart.value("always"))
        XCTAssertEqual(HostOptionRules.restartMax.value(0), 0)
        XCTAssertEqual(HostOptionRules.restartMax.value(1000), 1000)
        XCTAssertNil(HostOptionRules.restartMax.value(1001))
        XCTAssertNil(HostOptionRules.restartMax.value(-1))
        XCTAssertEqual(HostOptionRules.concurrentStart.value(true), true)
    }
}
