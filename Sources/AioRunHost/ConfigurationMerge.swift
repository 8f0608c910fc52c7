extension HostConfiguration {
    /// Checks the command line's values, reads the config file, if any (exactly once, so
    /// `/dev/stdin` and pipes work), and merges: the command line overrides the file, the file
    /// overrides the defaults, and the command line's plugins load after the file's (README,
    /// Command line). For the per-plugin options (`startup-timeout`, `restart`, `restart-max`,
    /// `restart-window`, `isolate`, `memory-limit`, `open-files-limit`) the order is: command
    /// line `NAME=`, then `[[plugin]]` entry, then command line default, then file default, then
    /// built-in (see ``PluginSettings``). Both sides follow ``HostOptionRules``. A limit in a
    /// `[[plugin]]` entry that is not isolated, or a host-wide limit when no plugin is isolated,
    /// is refused here; a `NAME=` limit once the plugins are loaded and named. Every error here
    /// is a usage error (exit 64).
    public init(_ options: CommandLineOptions) throws(HostError) {
        StartupSteps.end(.arguments)
        do {
            self = try Self.merge(options)
        } catch {
            throw error.hostError
        }
        StartupSteps.end(.configuration)
    }

    private static func merge(_ options: CommandLineOptions) throws(HostUsageError) -> HostConfiguration {
        let file = try options.config.map { path throws(HostUsageError) in try ConfigFile.load(path) }
        return try merge(options, over: file)
    }

    /// Merges the command line's values over `file`'s, the config file named by `--config`.
    static func merge(_ options: CommandLineOptions, over file: ConfigFile?) throws(HostUsageError) -> Self {
        var arguments = file?.plugins.map(\.argument) ?? []
        for plugin in options.plugins { arguments.append(try PluginArgument(parsing: plugin)) }
        guard !arguments.isEmpty else {
            throw HostUsageError("no plugin given; usage: aiorun-host [options] <plugin>... (or --config FILE)")
        }
        if options.inspect && arguments.count != 1 {
            throw HostUsageError("--inspect takes exactly one plugin, got \(arguments.count)")
        }
        let rules = HostOptionRules.self
        var configuration = HostConfiguration(plugins: arguments)
        configuration.taskShutdownTimeout =
            try options.taskShutdownTimeout.map(rules.taskShutdownTimeout.commandLineValue)
            ?? file?.taskShutdownTimeout ?? configuration.taskShutdownTimeout
        configuration.executorWorkers =
            try options.executorWorkers.map(rules.executorWorkers.commandLineValue)
            ?? file?.executorWorkers ?? configuration.executorWorkers
        configuration.stopOnUnhandledErrors = options.stopOnUnhandledErrors || (file?.stopOnUnhandledErrors ?? false)
        configuration.logLevel =
            try options.logLevel.map(rules.logLevel.commandLineValue) ?? file?.logLevel ?? configuration.logLevel
        configuration.logFormat =
            try options.logFormat.map(rules.logFormat.commandLineValue) ?? file?.logFormat ?? configuration.logFormat
        configuration.allowInsecurePlugins = options.allowInsecurePlugins || (file?.allowInsecurePlugins ?? false)
        configuration.mode = options.inspect ? .inspect : options.check ? .check : .run
        configuration.preflight = options.preflight || (file?.preflight ?? false) || configuration.mode != .run
        configuration.loadTimeout =
            try options.loadTimeout.map(rules.loadTimeout.commandLineValue)
            ?? file?.loadTimeout ?? configuration.loadTimeout
        configuration.concurrentStart = options.concurrentStart || (file?.concurrentStart ?? false)
        configuration.drainDelay =
            try options.drainDelay.map(rules.drainDelay.commandLineValue)
            ?? file?.drainDelay ?? configuration.drainDelay
        for setting in options.settings { configuration.add(try PluginSetting(parsing: setting)) }
        // Per-plugin options: the command line's bare values over the file's top-level ones; a
        // plugin's own values (its entry, then `NAME=`) are laid over these once it is loaded.
        configuration.settings.hostDefaults = file?.pluginDefaults ?? PluginOptionValues()
        try configuration.settings.take(options)
        try checkLimits(configuration, file: file)
        return configuration
    }

    /// A `memory-limit` or `open-files-limit` needs isolation (README, Command line): one in a
    /// `[[plugin]]` entry whose plugin is not isolated, or a host-wide one when no plugin is, is a
    /// usage error naming where it was set: `--config f.toml:9: key "memory-limit" in [[plugin]]
    /// #1: the plugin is not isolated (…)`, `--memory-limit 64M: no plugin is isolated (…)`.
    private static func checkLimits(_ configuration: HostConfiguration, file: ConfigFile?) throws(HostUsageError) {
        let defaults = configuration.settings.hostDefaults
        let isolated = { (argument: PluginArgument) in argument.options.isolate ?? defaults.isolate ?? false }
        let limits: [(name: String, field: KeyPath<PluginOptionValues, Int?>)] = [
            (HostOptionRules.memoryLimit.name, \.memoryLimit), (HostOptionRules.openFilesLimit.name, \.openFilesLimit),
        ]
        for entry in file?.plugins ?? [] where !isolated(entry.argument) {
            for limit in limits where entry.argument.options[keyPath: limit.field] != nil {
                let origin = entry.limitOrigins[limit.name] ?? "--config \(file?.path ?? "?"): key \"\(limit.name)\""
                throw HostUsageError("\(origin): the plugin is not isolated (\(PluginSettings.limitsNeedIsolation))")
            }
        }
        guard !configuration.plugins.contains(where: isolated) else { return }
        for limit in limits where defaults[keyPath: limit.field] != nil {
            let origin =
                configuration.settings.given[limit.name]?[""] ?? file?.limitOrigins[limit.name] ?? "--\(limit.name)"
            throw HostUsageError("\(origin): no plugin is isolated (\(PluginSettings.limitsNeedIsolation))")
        }
    }
}
