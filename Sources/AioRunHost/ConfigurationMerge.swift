extension HostConfiguration {
    /// Checks the command line's values, reads the config file, if any (exactly once, so
    /// `/dev/stdin` and pipes work), and merges: the command line overrides the file, the file
    /// overrides the defaults, and the command line's plugins load after the file's (README,
    /// Command line). For the per-plugin options (`startup-timeout`, `restart`, `restart-max`,
    /// `restart-window`) the order is: command line `NAME=`, then `[[plugin]]` entry, then
    /// command line default, then file default, then built-in (see ``PluginSettings``). Both
    /// sides follow ``HostOptionRules``. Every error here is a usage error (exit 64).
    public init(_ options: CommandLineOptions) throws(HostError) {
        do {
            self = try Self.merge(options)
        } catch {
            throw error.hostError
        }
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
        return configuration
    }
}
