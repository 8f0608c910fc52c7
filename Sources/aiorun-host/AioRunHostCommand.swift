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

    @Option(name: .long, help: ArgumentHelp("Read options and plugins from a TOML file; command-line flags override it and command-line plugins load after its plugins.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Each plugin's time limit for its teardown, in seconds (default 60).", valueName: "seconds"))
    var taskShutdownTimeout: Double?

    @Option(name: .long, help: ArgumentHelp("Threads per plugin executor pool (default min(32, cores + 4)).", valueName: "n"))
    var executorWorkers: Int?

    @Flag(name: .long, help: "Stop the host (exit 1) when a plugin's run(), task, shield or job fails unhandled.")
    var stopOnUnhandledErrors = false

    @Flag(name: .long, help: "Load plugin files (or folders) that are writable by group/others or owned by another non-root user.")
    var allowInsecurePlugins = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a plugin's config value (repeatable).", valueName: "name.key=value"))
    var settings: [String] = []

    @Option(name: .long, help: ArgumentHelp("trace, debug, info (default), notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("text (default, for terminals) or json (one object per line).", valueName: "format"))
    var logFormat: String?

    @Flag(name: .long, help: "Load every plugin in a throwaway child process first, so a file that crashes the dynamic loader is refused (always on for --check and --inspect).")
    var preflight = false

    @Option(name: .long, help: ArgumentHelp("Time limit for loading and creating all plugins, in seconds (default 60).", valueName: "seconds"))
    var loadTimeout: Double?

    @Flag(name: .long, help: "Run every loading step and check, print one line per plugin, start nothing; exit 0 or 65.")
    var check = false

    @Flag(name: .long, help: "Like --check for one plugin, plus its exported entry and the libraries it needs.")
    var inspect = false

    @Argument(help: ArgumentHelp("Plugins to load, in order.", valueName: "plugin"))
    var plugins: [String] = []

    /// Internal child modes first (they never parse arguments), then the usual parse and run.
    static func main() async {
        InternalChild.runIfRequested()
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    func validate() throws {
        _ = try makeConfiguration()
    }

    /// The file's settings, overridden by the command line's.
    func makeConfiguration() throws -> HostConfiguration {
        do {
            let file = try config.map { path throws(HostUsageError) in try ConfigFile.load(path) }
            let arguments = (file?.plugins.map(\.argument) ?? []) + (try plugins.map { try PluginArgument(parsing: $0) })
            guard !arguments.isEmpty else {
                throw HostUsageError("no plugin given; usage: aiorun-host [options] <plugin>... (or --config FILE)")
            }
            if inspect && arguments.count != 1 {
                throw HostUsageError("--inspect takes exactly one plugin, got \(arguments.count)")
            }
            var timeout = file?.taskShutdownTimeout ?? .seconds(60)
            if let taskShutdownTimeout {
                guard taskShutdownTimeout.isFinite, taskShutdownTimeout >= 0, taskShutdownTimeout <= 86_400 * 365 else {
                    throw HostUsageError("--task-shutdown-timeout \(taskShutdownTimeout): expected seconds from 0 to one year")
                }
                timeout = .milliseconds(Int64((taskShutdownTimeout * 1000).rounded()))
            }
            if let executorWorkers, !(1...1024).contains(executorWorkers) {
                throw HostUsageError("--executor-workers \(executorWorkers): expected 1 to 1024")
            }
            var level = file?.logLevel ?? .info
            if let logLevel {
                guard let parsed = Logger.Level(rawValue: logLevel) else {
                    throw HostUsageError("--log-level \(logLevel): expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                level = parsed
            }
            var format = file?.logFormat ?? .text
            if let logFormat {
                guard let parsed = LogFormat(rawValue: logFormat) else {
                    throw HostUsageError("--log-format \(logFormat): expected text or json")
                }
                format = parsed
            }
            var configuration = HostConfiguration(
                plugins: arguments,
                taskShutdownTimeout: timeout,
                executorWorkers: executorWorkers ?? file?.executorWorkers ?? LifecycleOptions.defaultExecutorWorkers,
                stopOnUnhandledErrors: stopOnUnhandledErrors || (file?.stopOnUnhandledErrors ?? false),
                settings: [:],
                logLevel: level)
            configuration.logFormat = format
            configuration.allowInsecurePlugins = allowInsecurePlugins || (file?.allowInsecurePlugins ?? false)
            configuration.mode = inspect ? .inspect : check ? .check : .run
            configuration.preflight = preflight || configuration.mode != .run
            if let loadTimeout {
                guard loadTimeout.isFinite, loadTimeout > 0, loadTimeout <= 86_400 * 365 else {
                    throw HostUsageError("--load-timeout \(loadTimeout): expected seconds above 0, up to one year")
                }
                configuration.loadTimeout = .milliseconds(Int64((loadTimeout * 1000).rounded()))
            }
            for setting in settings { try configuration.addSetting(setting) }
            return configuration
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        await exitAfter { await Host.run(configuration) }
    }
}
