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

    func testSizesTakeBytesOrABinarySuffixInAnyCase() {
        XCTAssertEqual(HostOptionRules.size("1048576"), 1 << 20)
        XCTAssertEqual(HostOptionRules.size("0"), 0)
        XCTAssertEqual(HostOptionRules.size("512M"), 512 << 20)
        XCTAssertEqual(HostOptionRules.size("512m"), 512 << 20)
        XCTAssertEqual(HostOptionRules.size("1GiB"), 1 << 30)
        XCTAssertEqual(HostOptionRules.size("1gib"), 1 << 30)
        XCTAssertEqual(HostOptionRules.size("64k"), 64 << 10)
        XCTAssertEqual(HostOptionRules.size("2KiB"), 2 << 10)
        XCTAssertEqual(HostOptionRules.size("3MiB"), 3 << 20)
        XCTAssertEqual(HostOptionRules.size("1T"), 1 << 40)
        for bad in [
            "", "M", "1.5G", "-1", "+1", " 1M", "1M ", "1 M", "1MB", "1KB", "1Mi", "1e6", "0x10", "1P",
            "99999999999999999999", "9999999999G", "１M",
        ] {
            XCTAssertNil(HostOptionRules.size(bad), bad)
        }
    }

    func testMemoryLimitIsOneMebibyteToOneTebibyte() {
        let rule = HostOptionRules.memoryLimit
        XCTAssertEqual(rule.expected, "a size from 1M to 1T (bytes, or with K, M or G)")
        XCTAssertEqual(rule.value("1M"), 1 << 20)
        XCTAssertEqual(rule.value("1048576"), 1 << 20)
        XCTAssertEqual(rule.value("1024K"), 1 << 20)
        XCTAssertNil(rule.value("1048575"))
        XCTAssertNil(rule.value("1023K"))
        XCTAssertEqual(rule.value("1024G"), 1 << 40)
        XCTAssertEqual(rule.value("1TiB"), 1 << 40)
        XCTAssertNil(rule.value("1025G"))
        XCTAssertNil(rule.value("\((1 << 40) + 1)"))
        XCTAssertNil(rule.value("lots"))
    }

    func testOpenFilesLimitAndIsolate() {
        let rule = HostOptionRules.openFilesLimit
        XCTAssertNil(rule.value(15))
        XCTAssertEqual(rule.value(16), 16)
        XCTAssertEqual(rule.value(1_048_576), 1_048_576)
        XCTAssertNil(rule.value(1_048_577))
        XCTAssertNil(rule.value(-1))
        XCTAssertEqual(HostOptionRules.isolate.value(false), false)
        XCTAssertEqual(HostOptionRules.isolate.name, "isolate")
    }
}
