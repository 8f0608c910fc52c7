import AioRun
import AioRunHost
import ArgumentParser
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `aiorun-host [options] <plugin>...`: parse and validate, then hand over to `Host`.
@main
struct AioRunHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aiorun-host",
        abstract: "Load AioRun plugins and run them under one lifecycle manager.",
        discussion: """
            A plugin is a path to a .so, a bare name searched as lib<name>.so along \
            AIORUN_PLUGIN_PATH and then beside this binary, or alias=<plugin> to load a plugin \
            again as another instance. On SIGINT/SIGTERM plugins are torn down in reverse load \
            order; a second signal exits at once with 128+signal.

            Exit codes: 0 clean, 1 unhandled error with --stop-on-unhandled-errors, 64 usage, \
            65 plugin rejected, 70 something abandoned at a time limit, 128+N second signal N.
            """,
        version: "aiorun-host 0.1.0 (plugin ABI \(AIORUN_PLUGIN_ABI), API \(AIORUN_PLUGIN_API_VERSION))")

    @Option(name: .long, help: ArgumentHelp("Each plugin's time limit for its teardown, in seconds.", valueName: "seconds"))
    var taskShutdownTimeout: Double = 60

    @Option(name: .long, help: ArgumentHelp("Threads per plugin executor pool (default min(32, cores + 4)).", valueName: "n"))
    var executorWorkers: Int?

    @Flag(name: .long, help: "Stop the host (exit 1) when a plugin's run(), task, shield or job fails unhandled.")
    var stopOnUnhandledErrors = false

    @Flag(name: .long, help: "Load plugin files (or folders) that are writable by group/others or owned by another non-root user.")
    var allowInsecurePlugins = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a plugin's config value (repeatable).", valueName: "name.key=value"))
    var settings: [String] = []

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    @Argument(help: ArgumentHelp("Plugins to load, in order.", valueName: "plugin"))
    var plugins: [String] = []

    func validate() throws {
        _ = try makeConfiguration()
    }

    func makeConfiguration() throws -> HostConfiguration {
        guard !plugins.isEmpty else { throw ValidationError("no plugin given; usage: aiorun-host [options] <plugin>...") }
        guard taskShutdownTimeout.isFinite, taskShutdownTimeout >= 0, taskShutdownTimeout <= 86_400 * 365 else {
            throw ValidationError("--task-shutdown-timeout \(taskShutdownTimeout): expected seconds from 0 to one year")
        }
        if let executorWorkers, !(1...1024).contains(executorWorkers) {
            throw ValidationError("--executor-workers \(executorWorkers): expected 1 to 1024")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level \(logLevel): expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        do {
            var configuration = HostConfiguration(
                plugins: try plugins.map { try PluginArgument(parsing: $0) },
                taskShutdownTimeout: .milliseconds(Int64((taskShutdownTimeout * 1000).rounded())),
                executorWorkers: executorWorkers ?? LifecycleOptions.defaultExecutorWorkers,
                stopOnUnhandledErrors: stopOnUnhandledErrors,
                settings: [:],
                logLevel: level)
            configuration.allowInsecurePlugins = allowInsecurePlugins
            for setting in settings { try configuration.addSetting(setting) }
            return configuration
        } catch let error as HostUsageError {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        await exitAfter { await Host.run(configuration) }
    }
}
