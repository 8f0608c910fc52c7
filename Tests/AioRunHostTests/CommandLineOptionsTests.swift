import Logging
import XCTest

@testable import AioRunHost

/// The command line's options become one configuration (README, "Command line"): defaults,
/// ranges shared with the config file, plugin arguments and `--set`.
final class CommandLineOptionsTests: XCTestCase {
    func testDefaultsWhenOnlyAPluginIsGiven() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        let configuration = try HostConfiguration(options)
        XCTAssertEqual(configuration.plugins, [PluginArgument(alias: nil, target: "hello")])
        XCTAssertEqual(configuration.taskShutdownTimeout, .seconds(60))
        XCTAssertEqual(configuration.logLevel, .info)
        XCTAssertEqual(configuration.logFormat, .text)
        XCTAssertFalse(configuration.stopOnUnhandledErrors)
        XCTAssertEqual(configuration.mode, .run)
        XCTAssertFalse(configuration.preflight)
        XCTAssertEqual(configuration.settings, PluginSettings())
        XCTAssertEqual(configuration.startupTimeout, .seconds(60))
        XCTAssertFalse(configuration.concurrentStart)
        XCTAssertEqual(configuration.drainDelay, .zero)
        XCTAssertEqual(configuration.restart, .no)
        let lifecycle = configuration.lifecycleOptions(observer: nil)
        XCTAssertEqual(lifecycle.startupTimeout, .seconds(60))
        XCTAssertFalse(lifecycle.concurrentStart)
        XCTAssertEqual(lifecycle.drainDelay, .zero)
        XCTAssertEqual(lifecycle.restart, .no)
    }

    func testStartAndRestartOptionsReachTheLifecycleOptions() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.startupTimeouts = ["5", "2.5"]
        options.concurrentStart = true
        options.drainDelay = 3
        options.restarts = ["on-failure"]
        options.restartMaxes = ["0"]
        options.restartWindows = ["30"]
        let configuration = try HostConfiguration(options)
        let lifecycle = configuration.lifecycleOptions(observer: nil)
        XCTAssertEqual(lifecycle.startupTimeout, .milliseconds(2500), "the last bare value wins")
        XCTAssertTrue(lifecycle.concurrentStart)
        XCTAssertEqual(lifecycle.drainDelay, .seconds(3))
        XCTAssertEqual(lifecycle.restart, .onFailure(maxRestarts: 0, within: .seconds(30)))
        XCTAssertTrue(configuration.settings.options.isEmpty, "bare values set no plugin's own")
    }

    func testValuesInRangeAreTaken() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.taskShutdownTimeout = 0.25
        options.executorWorkers = 1024
        options.logLevel = "trace"
        options.logFormat = "json"
        options.loadTimeout = 3
        options.check = true
        let configuration = try HostConfiguration(options)
        XCTAssertEqual(configuration.taskShutdownTimeout, .milliseconds(250))
        XCTAssertEqual(configuration.executorWorkers, 1024)
        XCTAssertEqual(configuration.logLevel, .trace)
        XCTAssertEqual(configuration.logFormat, .json)
        XCTAssertEqual(configuration.loadTimeout, .seconds(3))
        XCTAssertEqual(configuration.mode, .check)
        XCTAssertTrue(configuration.preflight, "--check implies --preflight")
    }

    func testValuesOutOfRangeNameTheOptionAndWhatItAccepts() {
        let cases: [(String, (inout CommandLineOptions) -> Void)] = [
            ("--executor-workers 0: expected an integer from 1 to 1024", { $0.executorWorkers = 0 }),
            ("--executor-workers 1025: expected an integer from 1 to 1024", { $0.executorWorkers = 1025 }),
            (
                "--task-shutdown-timeout -1.0: expected a number of seconds from 0 to one year",
                { $0.taskShutdownTimeout = -1 }
            ),
            (
                "--task-shutdown-timeout nan: expected a number of seconds from 0 to one year",
                { $0.taskShutdownTimeout = .nan }
            ),
            ("--load-timeout 0.0: expected a number of seconds above 0, up to one year", { $0.loadTimeout = 0 }),
            (
                "--log-level loud: expected one of trace, debug, info, notice, warning, error, critical",
                {
                    $0.logLevel = "loud"
                }
            ),
            ("--log-format xml: expected text or json", { $0.logFormat = "xml" }),
            (
                "--startup-timeout 0: expected a number of seconds above 0, up to one year",
                { $0.startupTimeouts = ["0"] }
            ),
            (
                "--startup-timeout web=soon: expected a number of seconds above 0, up to one year",
                { $0.startupTimeouts = ["web=soon"] }
            ),
            (
                "--startup-timeout 31536001: expected a number of seconds above 0, up to one year",
                { $0.startupTimeouts = ["31536001"] }
            ),
            ("--drain-delay -1.0: expected a number of seconds from 0 to one year", { $0.drainDelay = -1 }),
            ("--restart always: expected no or on-failure", { $0.restarts = ["always"] }),
            ("--restart web=: expected no or on-failure", { $0.restarts = ["web="] }),
            ("--restart Web=no: \"Web\" \(PluginName.rule)", { $0.restarts = ["Web=no"] }),
            ("--restart =no: \"\" \(PluginName.rule)", { $0.restarts = ["=no"] }),
            ("--restart-max 1001: expected an integer from 0 to 1000", { $0.restartMaxes = ["1001"] }),
            ("--restart-max web=-1: expected an integer from 0 to 1000", { $0.restartMaxes = ["web=-1"] }),
            ("--restart-max 2.5: expected an integer from 0 to 1000", { $0.restartMaxes = ["2.5"] }),
            (
                "--restart-window 0: expected a number of seconds above 0, up to one year",
                { $0.restartWindows = ["0"] }
            ),
            (
                "--memory-limit 512X: expected a size from 1M to 1T (bytes, or with K, M or G)",
                { $0.memoryLimits = ["512X"] }
            ),
            (
                "--memory-limit web=1023K: expected a size from 1M to 1T (bytes, or with K, M or G)",
                { $0.memoryLimits = ["web=1023K"] }
            ),
            (
                "--memory-limit 2T: expected a size from 1M to 1T (bytes, or with K, M or G)",
                { $0.memoryLimits = ["2T"] }
            ),
            ("--memory-limit Web=1G: \"Web\" \(PluginName.rule)", { $0.memoryLimits = ["Web=1G"] }),
            ("--open-files-limit 15: expected an integer from 16 to 1048576", { $0.openFilesLimits = ["15"] }),
            (
                "--open-files-limit web=1048577: expected an integer from 16 to 1048576",
                { $0.openFilesLimits = ["web=1048577"] }
            ),
            ("--open-files-limit many: expected an integer from 16 to 1048576", { $0.openFilesLimits = ["many"] }),
        ]
        for (expected, change) in cases {
            var options = CommandLineOptions()
            options.plugins = ["hello"]
            change(&options)
            XCTAssertEqual(usageError { try HostConfiguration(options) }, expected)
        }
    }

    func testIsolateMakesEveryPluginIsolatedWithTheLastLimitsGiven() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello", "again=hello"]
        options.isolate = true
        options.memoryLimits = ["1G", "512M", "again=1GiB"]
        options.openFilesLimits = ["again=64"]
        let configuration = try HostConfiguration(options)
        XCTAssertEqual(configuration.settings.hostDefaults.isolate, true)
        let settings = configuration.settings
        XCTAssertEqual(
            settings.isolation(for: "hello", argument: configuration.plugins[0]),
            IsolationSettings(memoryLimit: 512 << 20)
        )
        XCTAssertEqual(
            settings.isolation(for: "again", argument: configuration.plugins[1]),
            IsolationSettings(memoryLimit: 1 << 30, openFilesLimit: 64)
        )

        options.isolate = false
        options.memoryLimits = []
        options.openFilesLimits = []
        let plain = try HostConfiguration(options)
        XCTAssertNil(plain.settings.hostDefaults.isolate)
        XCTAssertNil(plain.settings.isolation(for: "hello", argument: plain.plugins[0]), "not isolated by default")
    }

    func testAHostWideLimitWithoutIsolationIsAUsageError() {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.memoryLimits = ["2G", "64M"]
        XCTAssertEqual(
            usageError { try HostConfiguration(options) },
            "--memory-limit 64M: no plugin is isolated (limits need --isolate or isolate = true)"
        )
        options.memoryLimits = []
        options.openFilesLimits = ["256"]
        XCTAssertEqual(
            usageError { try HostConfiguration(options) },
            "--open-files-limit 256: no plugin is isolated (limits need --isolate or isolate = true)"
        )
        options.isolate = true
        XCTAssertNoThrow(try HostConfiguration(options))
    }

    func testNoPluginAndInspectWithTwoPluginsAreUsageErrors() {
        XCTAssertEqual(
            usageError { try HostConfiguration(CommandLineOptions()) },
            "no plugin given; usage: aiorun-host [options] <plugin>... (or --config FILE)"
        )
        var options = CommandLineOptions()
        options.plugins = ["hello", "ticker"]
        options.inspect = true
        XCTAssertEqual(usageError { try HostConfiguration(options) }, "--inspect takes exactly one plugin, got 2")
    }

    func testSetGivesEachPluginItsKeysAndTheLastValueWins() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.settings = ["hello.greeting=hi", "hello.url=http://x/?a=b", "hello.greeting=bye", "other.key="]
        let configuration = try HostConfiguration(options)
        XCTAssertEqual(configuration.settings.config["hello"], ["greeting": "bye", "url": "http://x/?a=b"])
        XCTAssertEqual(configuration.settings.config["other"], ["key": ""])
    }

    func testMalformedSetIsAUsageErrorNamingWhatIsWrong() {
        let cases = [
            "hello.greeting": "--set hello.greeting: expected NAME.KEY=VALUE (no \"=\")",
            "greeting=hi": "--set greeting=hi: expected NAME.KEY=VALUE (no plugin name before \".\")",
            "hello.=hi": "--set hello.=hi: empty KEY",
            "Hello.key=1": "--set Hello.key=1: \"Hello\" \(PluginName.rule)",
        ]
        for (setting, expected) in cases {
            var options = CommandLineOptions()
            options.plugins = ["hello"]
            options.settings = [setting]
            XCTAssertEqual(usageError { try HostConfiguration(options) }, expected, setting)
        }
    }
}

/// Runs `body` and returns the message of the usage error (a `HostError` with exit code 64) it
/// throws, or nil (failing the test) if it throws nothing or something else.
func usageError<T>(
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () throws -> T
) -> String? {
    do {
        _ = try body()
        XCTFail("expected a usage error", file: file, line: line)
    } catch let error as HostError where error.exitCode == 64 {
        return error.description
    } catch let error as HostUsageError {
        return error.description
    } catch {
        XCTFail("expected a usage error, got \(error)", file: file, line: line)
    }
    return nil
}
