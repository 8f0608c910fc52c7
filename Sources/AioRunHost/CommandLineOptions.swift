import AioRun

/// The host's options as the command line gives them (see README, Command line), before the
/// config file named by `--config` is read and merged under them.
public struct CommandLineOptions: Sendable {
    /// `--config FILE`.
    public var config: String?
    /// `--task-shutdown-timeout SECONDS`.
    public var taskShutdownTimeout: Double?
    /// `--executor-workers N`.
    public var executorWorkers: Int?
    /// `--stop-on-unhandled-errors`.
    public var stopOnUnhandledErrors = false
    /// `--allow-insecure-plugins`.
    public var allowInsecurePlugins = false
    /// `--set NAME.KEY=VALUE`, in order.
    public var settings: [String] = []
    /// `--log-level LEVEL`.
    public var logLevel: String?
    /// `--log-format FORMAT`.
    public var logFormat: String?
    /// `--preflight`.
    public var preflight = false
    /// `--load-timeout SECONDS`.
    public var loadTimeout: Double?
    /// `--check`.
    public var check = false
    /// `--inspect`.
    public var inspect = false
    /// The plugin arguments, in order.
    public var plugins: [String] = []

    /// Creates empty options (every default).
    public init() {}

    /// Reads the config file, if any (exactly once, so `/dev/stdin` and pipes work), and merges:
    /// the command line overrides the file, the file overrides the defaults, and the command
    /// line's plugins load after the file's.
    public func makeConfiguration() throws(HostUsageError) -> HostConfiguration {
        let file = try config.map { path throws(HostUsageError) in try ConfigFile.load(path) }
        var arguments = file?.plugins.map(\.argument) ?? []
        for plugin in plugins { arguments.append(try PluginArgument(parsing: plugin)) }
        guard !arguments.isEmpty else {
            throw HostUsageError("no plugin given; usage: aiorun-host [options] <plugin>... (or --config FILE)")
        }
        if inspect && arguments.count != 1 {
            throw HostUsageError("--inspect takes exactly one plugin, got \(arguments.count)")
        }
        let rules = HostOptionRules.self
        var configuration = HostConfiguration(
            plugins: arguments,
            taskShutdownTimeout: try taskShutdownTimeout.map { v throws(HostUsageError) in try rules.taskShutdownTimeout.value(v, option: "task-shutdown-timeout") }
                ?? file?.taskShutdownTimeout ?? .seconds(60),
            executorWorkers: try executorWorkers.map { v throws(HostUsageError) in try rules.executorWorkers.value(v, option: "executor-workers") }
                ?? file?.executorWorkers ?? LifecycleOptions.defaultExecutorWorkers,
            stopOnUnhandledErrors: stopOnUnhandledErrors || (file?.stopOnUnhandledErrors ?? false),
            settings: [:],
            logLevel: try logLevel.map { v throws(HostUsageError) in try rules.logLevel.value(v, option: "log-level") } ?? file?.logLevel ?? .info)
        configuration.logFormat = try logFormat.map { v throws(HostUsageError) in try rules.logFormat.value(v, option: "log-format") } ?? file?.logFormat ?? .text
        configuration.allowInsecurePlugins = allowInsecurePlugins || (file?.allowInsecurePlugins ?? false)
        configuration.mode = inspect ? .inspect : check ? .check : .run
        configuration.preflight = preflight || (file?.preflight ?? false) || configuration.mode != .run
        configuration.loadTimeout = try loadTimeout.map { v throws(HostUsageError) in try rules.loadTimeout.value(v, option: "load-timeout") }
            ?? file?.loadTimeout ?? configuration.loadTimeout
        for setting in settings { try configuration.addSetting(setting) }
        return configuration
    }
}
