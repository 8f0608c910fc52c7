import AioRun
@_spi(AioRunRuntime) import AioRunPluginAPI
import XCTest

@testable import AioRunHost

/// The options a plugin instance may also set for itself (`startup-timeout`, `restart`,
/// `restart-max`, `restart-window`; README, "Command line"): their precedence over five layers,
/// the check of `NAME=` against the loaded plugins, and what reaches the lifecycle manager.
final class PluginOptionsTests: XCTestCase {
    /// A config file with top-level defaults and three plugins, the first two with values of
    /// their own.
    private func layeredFile() throws -> ConfigFile {
        let text = """
            startup-timeout = 10
            restart = "on-failure"
            restart-max = 3
            [[plugin]]
            load = "a"
            startup-timeout = 20
            [[plugin]]
            load = "b"
            alias = "bb"
            restart-window = 5
            [[plugin]]
            load = "c"
            """
        let table = ConfigTable([
            ("startup-timeout", .int(10)), ("restart", .string("on-failure")), ("restart-max", .int(3)),
            (
                "plugin",
                .array([
                    .table(ConfigTable([("load", .string("a")), ("startup-timeout", .int(20))])),
                    .table(
                        ConfigTable([("load", .string("b")), ("alias", .string("bb")), ("restart-window", .double(5))])
                    ),
                    .table(ConfigTable([("load", .string("c"))])),
                ])
            ),
        ])
        return try ConfigFile.read(table, text: text, path: "f.toml")
    }

    func testEachValueTakesTheStrongestLayerThatSetsIt() throws {
        var options = CommandLineOptions()
        options.startupTimeouts = ["30", "c=40"]
        options.restartMaxes = ["7"]
        options.restarts = ["bb=no"]
        options.restartWindows = ["bb=9"]
        let configuration = try HostConfiguration.merge(options, over: try layeredFile())
        let settings = configuration.settings
        let plugins = configuration.plugins
        XCTAssertEqual(plugins.map(\.target), ["a", "b", "c"])

        // a: its entry's 20 s beats the command line's default; the file's default policy, with
        // the command line's default budget over the file's.
        let a = settings.values(for: "a", argument: plugins[0])
        XCTAssertEqual(a.startupTimeout, .seconds(20))
        XCTAssertEqual(a.restartPolicy(over: .no), .onFailure(maxRestarts: 7, within: .seconds(60)))
        // bb: the command line's default 30 s beats the file's 10 s; its `NAME=` values beat its
        // entry's window.
        let bb = settings.values(for: "bb", argument: plugins[1])
        XCTAssertEqual(bb.startupTimeout, .seconds(30))
        XCTAssertEqual(bb.restartPolicy(over: .no), RestartPolicy(mode: .no, maxRestarts: 7, window: .seconds(9)))
        // c: only `NAME=` and defaults.
        let c = settings.values(for: "c", argument: plugins[2])
        XCTAssertEqual(c.startupTimeout, .seconds(40))
        XCTAssertEqual(c.restartPolicy(over: .no), .onFailure(maxRestarts: 7, within: .seconds(60)))

        // The host-wide values: the command line's defaults over the file's.
        let lifecycle = configuration.lifecycleOptions(observer: nil)
        XCTAssertEqual(lifecycle.startupTimeout, .seconds(30))
        XCTAssertEqual(lifecycle.restart, .onFailure(maxRestarts: 7, within: .seconds(60)))
    }

    func testTheFileAloneGivesItsDefaultsAndEachEntryItsOwn() throws {
        var options = CommandLineOptions()
        options.plugins = ["d"]
        let configuration = try HostConfiguration.merge(options, over: try layeredFile())
        XCTAssertEqual(configuration.startupTimeout, .seconds(10))
        XCTAssertEqual(configuration.restart, .onFailure(maxRestarts: 3, within: .seconds(60)))
        let d = configuration.settings.values(for: "d", argument: configuration.plugins[3])
        XCTAssertEqual(d.startupTimeout, .seconds(10), "a command-line plugin takes the file's defaults")
        let a = configuration.settings.values(for: "a", argument: configuration.plugins[0])
        XCTAssertEqual(a.startupTimeout, .seconds(20))
    }

    func testLaterNamedValuesReplaceEarlierOnesAndTheFirstOriginIsKept() throws {
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.restarts = ["hello=on-failure", "hello=no", "web=on-failure"]
        options.restartMaxes = ["web=2"]
        let settings = try HostConfiguration(options).settings
        XCTAssertEqual(settings.options["hello"], PluginOptionValues(restart: .no))
        XCTAssertEqual(settings.options["web"], PluginOptionValues(restart: .onFailure, restartMax: 2))
        XCTAssertEqual(settings.origins["hello"], "--restart hello=on-failure")
        XCTAssertEqual(settings.origins["web"], "--restart web=on-failure")
        XCTAssertEqual(settings.hostDefaults, PluginOptionValues())
        XCTAssertFalse(settings.options.isEmpty)
    }

    func testUnitOptionsCarryEverySettingAndTheDeclaredReadiness() {
        var argument = PluginArgument(alias: nil, target: "web", taskShutdownTimeout: .seconds(4), executorWorkers: 3)
        argument.options.restartMax = 1
        var settings = PluginSettings()
        settings.options["web"] = PluginOptionValues(startupTimeout: .seconds(2), restart: .onFailure)
        let unit = settings.unitOptions(for: "web", argument: argument, readiness: .whenReported)
        XCTAssertEqual(unit.executorWorkers, 3)
        XCTAssertEqual(unit.shutdownTimeout, .seconds(4))
        XCTAssertEqual(unit.startupTimeout, .seconds(2))
        XCTAssertEqual(unit.restart, .onFailure(maxRestarts: 1, within: .seconds(60)))
        XCTAssertEqual(unit.readiness, .whenReported)

        let plain = PluginSettings().unitOptions(
            for: "hello",
            argument: PluginArgument(alias: nil, target: "hello"),
            readiness: .atStart
        )
        XCTAssertNil(plain.executorWorkers)
        XCTAssertNil(plain.shutdownTimeout)
        XCTAssertEqual(plain.startupTimeout, .seconds(60))
        XCTAssertEqual(plain.restart, .no)
        XCTAssertEqual(plain.readiness, .atStart)
    }

    func testANameThatIsNotLoadedIsRefusedLikeSet() throws {
        let loaded = ["hello", "greeter"].map { name in
            LoadedPlugin(
                name: name,
                path: "/plugins/libhello.so",
                descriptor: PluginDescriptor(name: "hello", abi: 2, apiVersion: "2.1.0") { _ in
                    throw CancellationError()
                },
                argument: PluginArgument(alias: name == "hello" ? nil : name, target: "hello")
            )
        }
        var options = CommandLineOptions()
        options.plugins = ["hello"]
        options.startupTimeouts = ["greeter=5"]
        options.restarts = ["hello=on-failure"]
        XCTAssertNoThrow(try Host.checkSettingTargets(try HostConfiguration(options).settings, loaded: loaded))

        options.restartWindows = ["zz=5", "web=5"]
        XCTAssertEqual(
            usageError { try Host.checkSettingTargets(try HostConfiguration(options).settings, loaded: loaded) },
            "--restart-window web=5: no plugin named web is loaded (loaded: hello, greeter)"
        )
        options.settings = ["other.key=1"]
        XCTAssertEqual(
            usageError { try Host.checkSettingTargets(try HostConfiguration(options).settings, loaded: loaded) },
            "--set other.…: no plugin named other is loaded (loaded: hello, greeter)",
            "--set is checked first, with its own message"
        )
    }
}
