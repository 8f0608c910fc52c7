import AioRunHost
import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `aiorun-host [options] <plugin>...` (README, Command line): declares the arguments, parses them
/// once and hands their raw values to the host, which checks them, reads the config file and runs.
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

            The NAME= forms of --startup-timeout, --restart, --restart-max, --restart-window, \
            --memory-limit and --open-files-limit set one plugin instance (by name or alias); \
            without NAME= they set every plugin's default. A plugin's own value wins: command line NAME=, then its [[plugin]] entry, \
            then the command line's default, then the config file's.

            Exit codes: 0 clean, 1 unhandled error with --stop-on-unhandled-errors, 64 usage, \
            65 plugin rejected, 69 a plugin failed to start, 70 something abandoned at a time \
            limit, 71 restart budget spent, 128+N second signal N.
            """,
        version: Host.version
    )

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read options and plugins from a TOML file; command-line flags override it and command-line plugins load"
                + " after its plugins.",
            valueName: "file"
        )
    )
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Each plugin's time limit for its teardown, in seconds (default 60).", valueName: "seconds")
    )
    var taskShutdownTimeout: Double?

    @Option(
        name: .long,
        help: ArgumentHelp("Threads per plugin executor pool (default min(32, cores + 4)).", valueName: "n")
    )
    var executorWorkers: Int?

    @Flag(name: .long, help: "Stop the host (exit 1) when a plugin's run(), task, shield or job fails unhandled.")
    var stopOnUnhandledErrors = false

    @Flag(
        name: .long,
        help: "Load plugin files (or folders) that are writable by group/others or owned by another non-root user."
    )
    var allowInsecurePlugins = false

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Set a plugin's config value (repeatable).", valueName: "name.key=value")
    )
    var settings: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp("trace, debug, info (default), notice, warning, error or critical.", valueName: "level")
    )
    var logLevel: String?

    @Option(
        name: .long,
        help: ArgumentHelp("text (default, for terminals) or json (one object per line).", valueName: "format")
    )
    var logFormat: String?

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Load every plugin in a throwaway child process first, so a file that crashes the dynamic loader is refused"
                + " (always on for --check and --inspect)."
        )
    )
    var preflight = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Time limit for loading and creating all plugins, in seconds (default 60).",
            valueName: "seconds"
        )
    )
    var loadTimeout: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Time limit from a plugin's start until it is ready, in seconds (default 60; repeatable).",
            valueName: "[name=]seconds"
        )
    )
    var startupTimeout: [String] = []

    @Flag(name: .long, help: "Start every plugin at once instead of each after the one before it is ready.")
    var concurrentStart = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "After the first signal, keep serving this long before teardown starts, in seconds (default 0).",
            valueName: "seconds"
        )
    )
    var drainDelay: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "no (default) or on-failure: restart a failed plugin (repeatable).",
            valueName: "[name=]policy"
        )
    )
    var restart: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp("Most restarts within the window, 0 to 1000 (default 5; repeatable).", valueName: "[name=]n")
    )
    var restartMax: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The window over which restarts are counted, in seconds (default 60; repeatable).",
            valueName: "[name=]seconds"
        )
    )
    var restartWindow: [String] = []

    @Flag(
        name: .long,
        help: "Run each plugin in a child process of its own (crash containment; see README, Isolation)."
    )
    var isolate = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Most memory an isolated plugin may use: bytes, or with K, M or G; 1M to 1T (repeatable).",
            valueName: "[name=]size"
        )
    )
    var memoryLimit: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Most open files of an isolated plugin, 16 to 1048576 (default the host's; repeatable).",
            valueName: "[name=]n"
        )
    )
    var openFilesLimit: [String] = []

    @Flag(
        name: .long,
        help: "Run every loading step and check, print one line per plugin, start nothing; exit 0 or 65."
    )
    var check = false

    @Flag(name: .long, help: "Like --check for one plugin, plus its exported entry and the libraries it needs.")
    var inspect = false

    @Argument(help: ArgumentHelp("Plugins to load, in order.", valueName: "plugin"))
    var plugins: [String] = []

    /// Internal child modes first (they never parse arguments), then the usual parse and run.
    static func main() async {
        // Closed standard streams, SIGPIPE and the signals the host ignores, before anything else.
        Host.prepareProcess()
        await InternalChild.runIfRequested()
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

    /// The command line's values as given, for the host to check and merge with the config file.
    var options: CommandLineOptions {
        var options = CommandLineOptions()
        options.config = config
        options.taskShutdownTimeout = taskShutdownTimeout
        options.executorWorkers = executorWorkers
        options.stopOnUnhandledErrors = stopOnUnhandledErrors
        options.allowInsecurePlugins = allowInsecurePlugins
        options.settings = settings
        options.logLevel = logLevel
        options.logFormat = logFormat
        options.preflight = preflight
        options.loadTimeout = loadTimeout
        options.startupTimeouts = startupTimeout
        options.concurrentStart = concurrentStart
        options.drainDelay = drainDelay
        options.restarts = restart
        options.restartMaxes = restartMax
        options.restartWindows = restartWindow
        options.isolate = isolate
        options.memoryLimits = memoryLimit
        options.openFilesLimits = openFilesLimit
        options.check = check
        options.inspect = inspect
        options.plugins = plugins
        return options
    }

    /// Hands the command line's raw values to the host, which checks them and reads the config
    /// file (once: there is no `validate()`, which would read it a second time and find a pipe
    /// empty), then runs the host and exits with its code. A configuration error is always a
    /// usage error (64, README, Exit codes): it is thrown as a `ValidationError`, which
    /// ArgumentParser prints with the usage and ends with 64, as it does for its own errors.
    func run() async throws {
        let configuration: HostConfiguration
        do {
            configuration = try HostConfiguration(options)
        } catch {
            throw ValidationError(error.description)
        }
        await Host.runAndExit(configuration)
    }
}
