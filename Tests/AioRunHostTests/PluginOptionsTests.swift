import AioRun
@_spi(AioRunRuntime) import AioRunPluginAPI
import XCTest

@testable import AioRunHost

/// The options a plugin instance may also set for itself (`startup-timeout`, `restart`,
/// `restart-max`, `restart-window`, `isolate`, `memory-limit`, `open-files-limit`; README,
/// "Command line"): their precedence over five layers, the check of `NAME=` against the loaded
/// plugins, the check that limits apply only to isolated plugins, and what reaches the lifecycle
/// manager and the isolated runner.
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

    // MARK: Isolation

    /// A config file with the top-level keys `top` and one `[[plugin]]` entry per element of
    /// `entries`, each loading the plugin named by its first key's value; the text puts each key
    /// on a line of its own, so top-level key N is on line N.
    private func isolationFile(
        _ top: [(String, ConfigValue)],
        _ entries: [[(String, ConfigValue)]]
    ) throws -> ConfigFile {
        var text = top.map { "\($0.0) = x\n" }.joined()
        for entry in entries {
            text += "[[plugin]]\n" + entry.map { "\($0.0) = x\n" }.joined()
        }
        var table = top
        if !entries.isEmpty { table.append(("plugin", .array(entries.map { .table(ConfigTable($0)) }))) }
        return try ConfigFile.read(ConfigTable(table), text: text, path: "f.toml")
    }

    /// The names of the plugins of `configuration` that are isolated (all load bare names,
    /// without aliases).
    private func isolated(_ configuration: HostConfiguration) -> [String] {
        configuration.plugins.map(\.target).enumerated().compactMap { index, name in
            configuration.settings.isolation(for: name, argument: configuration.plugins[index]) == nil ? nil : name
        }
    }

    func testIsolateTakesTheEntryThenTheCommandLineThenTheFileDefault() throws {
        let mixed = try isolationFile(
            [("isolate", .bool(true))],
            [[("load", .string("a")), ("isolate", .bool(false))], [("load", .string("b"))]]
        )
        var options = CommandLineOptions()
        options.plugins = ["c"]
        XCTAssertEqual(isolated(try HostConfiguration.merge(options, over: mixed)), ["b", "c"])
        options.isolate = true
        XCTAssertEqual(
            isolated(try HostConfiguration.merge(options, over: mixed)),
            ["b", "c"],
            "an entry's isolate = false keeps its plugin in process under --isolate"
        )

        let oneEntry = try isolationFile(
            [("isolate", .bool(false))],
            [[("load", .string("a")), ("isolate", .bool(true))], [("load", .string("b"))]]
        )
        options.isolate = false
        XCTAssertEqual(isolated(try HostConfiguration.merge(options, over: oneEntry)), ["a"])
        options.isolate = true
        XCTAssertEqual(
            isolated(try HostConfiguration.merge(options, over: oneEntry)),
            ["a", "b", "c"],
            "--isolate beats the file's default"
        )
        options.isolate = false
        XCTAssertEqual(isolated(try HostConfiguration.merge(options, over: nil)), [], "built-in default: in process")
    }

    func testLimitsTakeTheStrongestLayerForIsolatedPlugins() throws {
        let file = try isolationFile(
            [("isolate", .bool(true)), ("memory-limit", .string("1G")), ("open-files-limit", .int(100))],
            [
                [("load", .string("a")), ("memory-limit", .int(1 << 21))],
                [("load", .string("b")), ("isolate", .bool(false))],
            ]
        )
        var options = CommandLineOptions()
        options.plugins = ["c"]
        options.openFilesLimits = ["200", "a=300"]
        options.memoryLimits = ["a=3M"]
        let configuration = try HostConfiguration.merge(options, over: file)
        let settings = configuration.settings
        let plugins = configuration.plugins
        XCTAssertEqual(
            settings.isolation(for: "a", argument: plugins[0]),
            IsolationSettings(memoryLimit: 3 << 20, openFilesLimit: 300)
        )
        XCTAssertNil(settings.isolation(for: "b", argument: plugins[1]), "a default limit skips a plugin in process")
        XCTAssertEqual(
            settings.isolation(for: "c", argument: plugins[2]),
            IsolationSettings(memoryLimit: 1 << 30, openFilesLimit: 200)
        )
    }

    func testLimitsForAPluginThatIsNotIsolatedAreRefused() throws {
        let entryLimit = try isolationFile(
            [],
            [
                [("load", .string("a")), ("isolate", .bool(true))],
                [("load", .string("b")), ("memory-limit", .string("64M"))],
            ]
        )
        var options = CommandLineOptions()
        XCTAssertEqual(
            usageError { try HostConfiguration.merge(options, over: entryLimit) },
            "--config f.toml:6: key \"memory-limit\" in [[plugin]] #2: the plugin is not isolated"
                + " (limits need --isolate or isolate = true)"
        )
        options.isolate = true
        XCTAssertNoThrow(try HostConfiguration.merge(options, over: entryLimit))

        let defaultLimit = try isolationFile(
            [("open-files-limit", .int(64))],
            [[("load", .string("a")), ("isolate", .bool(false))]]
        )
        XCTAssertEqual(
            usageError { try HostConfiguration.merge(options, over: defaultLimit) },
            "--config f.toml:1: key \"open-files-limit\": no plugin is isolated (limits need --isolate or isolate = true)",
            "--isolate does not reach an entry with isolate = false"
        )
        options.openFilesLimits = ["32"]
        XCTAssertEqual(
            usageError { try HostConfiguration.merge(options, over: defaultLimit) },
            "--open-files-limit 32: no plugin is isolated (limits need --isolate or isolate = true)",
            "the command line's default is the one in effect"
        )
    }

    func testANamedLimitForALoadedPluginThatIsNotIsolatedIsRefused() throws {
        let loaded = ["web", "api"].map { name in
            LoadedPlugin(
                name: name,
                path: "/plugins/lib\(name).so",
                descriptor: PluginDescriptor(name: name, abi: 2, apiVersion: "2.1.0") { _ in
                    throw CancellationError()
                },
                argument: PluginArgument(alias: nil, target: name)
            )
        }
        let file = try isolationFile([("isolate", .bool(true))], [])
        var options = CommandLineOptions()
        options.plugins = ["web", "api"]
        options.memoryLimits = ["web=64M", "api=1G"]
        options.openFilesLimits = ["api=64"]
        XCTAssertNoThrow(
            try Host.checkSettingTargets(try HostConfiguration.merge(options, over: file).settings, loaded: loaded)
        )
        let inProcess = try isolationFile([], [])
        XCTAssertEqual(
            usageError {
                try Host.checkSettingTargets(
                    try HostConfiguration.merge(options, over: inProcess).settings,
                    loaded: loaded
                )
            },
            "--memory-limit web=64M: plugin web is not isolated (limits need --isolate or isolate = true)"
        )
        options.memoryLimits = []
        XCTAssertEqual(
            usageError { try Host.checkSettingTargets(try HostConfiguration(options).settings, loaded: loaded) },
            "--open-files-limit api=64: plugin api is not isolated (limits need --isolate or isolate = true)"
        )
        options.openFilesLimits = ["api=64", "zz=64"]
        XCTAssertEqual(
            usageError { try Host.checkSettingTargets(try HostConfiguration(options).settings, loaded: loaded) },
            "--open-files-limit zz=64: no plugin named zz is loaded (loaded: web, api)",
            "an unknown name is reported first"
        )
    }
}
