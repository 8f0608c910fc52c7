import AioRun
import AioRunPluginAPI

/// What the host settles per plugin instance only once the plugins are loaded and named
/// (README, Command line): the config values of `--set NAME.KEY=VALUE`, the command line's
/// `--OPTION NAME=VALUE` values, and the host-wide values that a plugin's own override.
struct PluginSettings: Sendable, Equatable {
    /// Config values from `--set NAME.KEY=VALUE`, by plugin name.
    var config: [String: [String: String]] = [:]
    /// The command line's `--OPTION NAME=VALUE` values, by plugin name.
    var options: [String: PluginOptionValues] = [:]
    /// For each name in ``options``, the first argument that named it (`--restart web=no`), for
    /// the message when no such plugin is loaded.
    var origins: [String: String] = [:]
    /// For each per-plugin option (by its name) and each plugin name (the empty name for the
    /// default), the last argument that set it (`--memory-limit web=64M`), for the message when a
    /// limit is for a plugin that is not isolated.
    var given: [String: [String: String]] = [:]
    /// The host-wide values: the command line's bare `--OPTION VALUE` over the config file's
    /// top-level keys (nil where neither sets one: the built-in default applies).
    var hostDefaults = PluginOptionValues()

    /// The built-in startup time limit: the lifecycle manager's default (60 s).
    static var defaultStartupTimeout: Duration { LifecycleOptions().startupTimeout }

    /// Takes the command line's `--OPTION [NAME=]VALUE` values for the per-plugin options, in
    /// order, a later one for the same plugin (or for the default) replacing an earlier one.
    mutating func take(_ commandLine: CommandLineOptions) throws(HostUsageError) {
        let rules = HostOptionRules.self
        try take(commandLine.startupTimeouts, rules.startupTimeout, { Double($0) }, \.startupTimeout)
        try take(commandLine.restarts, rules.restart, { $0 }, \.restart)
        try take(commandLine.restartMaxes, rules.restartMax, { Int($0) }, \.restartMax)
        try take(commandLine.restartWindows, rules.restartWindow, { Double($0) }, \.restartWindow)
        try take(commandLine.memoryLimits, rules.memoryLimit, { $0 }, \.memoryLimit)
        try take(commandLine.openFilesLimits, rules.openFilesLimit, { Int($0) }, \.openFilesLimit)
        // `--isolate` has no `NAME=` form: it only makes isolation every plugin's default.
        if commandLine.isolate { hostDefaults.isolate = true }
    }

    private mutating func take<Input, Value>(
        _ texts: [String],
        _ rule: OptionRule<Input, Value>,
        _ input: (String) -> Input?,
        _ field: WritableKeyPath<PluginOptionValues, Value?>
    ) throws(HostUsageError) {
        for text in texts {
            let argument = try PluginOptionArgument(parsing: text, rule, input: input)
            given[rule.name, default: [:]][argument.name ?? ""] = "--\(rule.name) \(text)"
            guard let name = argument.name else {
                hostDefaults[keyPath: field] = argument.value
                continue
            }
            options[name, default: PluginOptionValues()][keyPath: field] = argument.value
            if origins[name] == nil { origins[name] = "--\(rule.name) \(text)" }
        }
    }

    /// The values for the plugin instance `name` loaded from `argument`, by precedence: the
    /// command line's `NAME=` values, then its `[[plugin]]` entry's, then the host-wide ones.
    func values(for name: String, argument: PluginArgument) -> PluginOptionValues {
        hostDefaults.overridden(by: argument.options).overridden(by: options[name] ?? PluginOptionValues())
    }

    /// The lifecycle manager's settings for the plugin instance `name` loaded from `argument`,
    /// which becomes ready as `readiness` says (see ``values(for:argument:)``). Its startup time
    /// limit and restart policy are always given in full, so they never depend on the manager's.
    func unitOptions(for name: String, argument: PluginArgument, readiness: PluginReadiness) -> UnitOptions {
        let values = values(for: name, argument: argument)
        return UnitOptions(
            executorWorkers: argument.executorWorkers,
            shutdownTimeout: argument.taskShutdownTimeout,
            startupTimeout: values.startupTimeout ?? Self.defaultStartupTimeout,
            restart: values.restartPolicy(over: .no),
            readiness: readiness
        )
    }
}

extension Host {
    /// A `--set NAME.KEY=VALUE` or an `--OPTION NAME=VALUE` for a plugin that is not loaded is a
    /// usage error (README, Command line): `--restart web=no: no plugin named web is loaded
    /// (loaded: hello)`. Then a `NAME=` limit must be for an isolated plugin
    /// (``checkLimitTargets(_:loaded:)``).
    static func checkSettingTargets(_ settings: PluginSettings, loaded: [LoadedPlugin]) throws(HostUsageError) {
        try checkSettingTargets(settings.config, loaded: loaded)
        let names = loaded.map(\.name)
        if let unknown = settings.options.keys.sorted().first(where: { !names.contains($0) }) {
            throw HostUsageError(
                "\(settings.origins[unknown] ?? unknown): no plugin named \(unknown) is loaded"
                    + " (loaded: \(names.joined(separator: ", ")))"
            )
        }
        try checkLimitTargets(settings, loaded: loaded)
    }

    /// A `--memory-limit NAME=SIZE` or `--open-files-limit NAME=N` for a loaded plugin that is not
    /// isolated is a usage error (README, Command line): `--memory-limit web=64M: plugin web is
    /// not isolated (limits need --isolate or isolate = true)`. The limits of `[[plugin]]` entries
    /// and the host-wide ones are checked before loading (``HostConfiguration/init(_:)``).
    static func checkLimitTargets(_ settings: PluginSettings, loaded: [LoadedPlugin]) throws(HostUsageError) {
        let rules = HostOptionRules.self
        for plugin in loaded where settings.isolation(for: plugin.name, argument: plugin.argument) == nil {
            guard let own = settings.options[plugin.name] else { continue }
            for (rule, isSet) in [
                (rules.memoryLimit.name, own.memoryLimit != nil),
                (rules.openFilesLimit.name, own.openFilesLimit != nil),
            ]
            where isSet {
                let origin = settings.given[rule]?[plugin.name] ?? "--\(rule) \(plugin.name)=…"
                throw HostUsageError(
                    "\(origin): plugin \(plugin.name) is not isolated (\(PluginSettings.limitsNeedIsolation))"
                )
            }
        }
    }
}
