import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What an isolated plugin's child runs (README, "Isolation"): the host itself with that one
/// plugin, so every rule inside a plugin (shields, pools, time limits) is the one that holds in
/// process. The parent settles everything and passes it as `KEY=VALUE` arguments; the child logs
/// JSON lines to its standard error for the parent to re-emit, speaks to the parent over
/// ``IsolationChannel``, and never restarts or drains by itself: the parent does.
struct IsolatedWorker: Sendable {
    /// The internal child mode's name (see ``InternalChild``).
    static let mode = "worker"

    /// The plugin instance's name (the parent's alias or the plugin's own).
    var name: String
    /// The library's absolute path.
    var path: String
    /// Its config values.
    var config: [String: String] = [:]
    /// Its teardown time limit.
    var shutdownTimeout: Duration
    /// Its startup time limit.
    var startupTimeout: Duration
    /// Its executor pool size.
    var executorWorkers: Int
    /// `--stop-on-unhandled-errors`.
    var stopOnUnhandledErrors = false
    /// The least severe level logged.
    var logLevel = Logger.Level.info
    /// `--allow-insecure-plugins`.
    var allowInsecurePlugins = false
    /// The time limit for loading and creating the plugin.
    var loadTimeout: Duration
    /// Its open-files limit, if any (set before the plugin is loaded).
    var openFilesLimit: Int?
    /// Whether its host restarts it on failure: then a failure after ready ends the child (the
    /// host restarts it in a fresh one) instead of being an unhandled error it runs on with.
    var restartsOnFailure = false
    /// Whether it loads and creates its plugin, says `CREATED`, and then waits for the host's
    /// `START` before running it (a first instance, started while the host loads: README,
    /// "Isolation"); a restarted one starts at once.
    var holdsBeforeStart = false

    /// The arguments that carry this description to the child.
    var arguments: [String] {
        var arguments = [
            "name=\(name)", "path=\(path)", "shutdown-timeout=\(Self.seconds(shutdownTimeout))",
            "startup-timeout=\(Self.seconds(startupTimeout))", "workers=\(executorWorkers)",
            "stop-on-unhandled-errors=\(stopOnUnhandledErrors)", "log-level=\(logLevel.rawValue)",
            "allow-insecure-plugins=\(allowInsecurePlugins)", "load-timeout=\(Self.seconds(loadTimeout))",
        ]
        if let openFilesLimit { arguments.append("open-files-limit=\(openFilesLimit)") }
        if restartsOnFailure { arguments.append("restarts-on-failure=true") }
        if holdsBeforeStart { arguments.append("holds-before-start=true") }
        for (key, value) in config.sorted(by: { $0.key < $1.key }) {
            arguments.append("config=\(Self.encodedKey(key))=\(value)")
        }
        return arguments
    }

    /// A config key with `%` and `=` written as `%25` and `%3D`: a quoted TOML key may hold an
    /// `=`, and the first `=` after the key ends it.
    private static func encodedKey(_ key: String) -> String {
        key.replacing("%", with: "%25").replacing("=", with: "%3D")
    }

    /// The key that ``encodedKey(_:)`` wrote.
    private static func decodedKey(_ text: Substring) -> String {
        String(text).replacing("%3D", with: "=").replacing("%25", with: "%")
    }

    /// Reads a description from the child's arguments; nil if they are not the parent's.
    init?(arguments: [String]) {
        var fields: [String: String] = [:]
        var config: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "=") else { return nil }
            let key = String(argument[..<equals])
            let value = String(argument[argument.index(after: equals)...])
            if key == "config" {
                guard let split = value.firstIndex(of: "=") else { return nil }
                config[Self.decodedKey(value[..<split])] = String(value[value.index(after: split)...])
            } else {
                fields[key] = value
            }
        }
        guard let name = fields["name"], let path = fields["path"],
            let shutdown = fields["shutdown-timeout"].flatMap(Double.init),
            let startup = fields["startup-timeout"].flatMap(Double.init),
            let workers = fields["workers"].flatMap(Int.init),
            let load = fields["load-timeout"].flatMap(Double.init),
            let level = fields["log-level"].flatMap(Logger.Level.init(rawValue:))
        else { return nil }
        self.init(
            name: name,
            path: path,
            shutdownTimeout: .seconds(shutdown),
            startupTimeout: .seconds(startup),
            executorWorkers: workers,
            loadTimeout: .seconds(load)
        )
        self.config = config
        stopOnUnhandledErrors = fields["stop-on-unhandled-errors"] == "true"
        allowInsecurePlugins = fields["allow-insecure-plugins"] == "true"
        logLevel = level
        openFilesLimit = fields["open-files-limit"].flatMap(Int.init)
        restartsOnFailure = fields["restarts-on-failure"] == "true"
        holdsBeforeStart = fields["holds-before-start"] == "true"
    }

    /// A description made by the parent.
    init(
        name: String,
        path: String,
        shutdownTimeout: Duration,
        startupTimeout: Duration,
        executorWorkers: Int,
        loadTimeout: Duration
    ) {
        self.name = name
        self.path = path
        self.shutdownTimeout = shutdownTimeout
        self.startupTimeout = startupTimeout
        self.executorWorkers = executorWorkers
        self.loadTimeout = loadTimeout
    }

    /// The host's configuration for this one plugin: JSON logs, no restart, no drain delay.
    var configuration: HostConfiguration {
        var argument = PluginArgument(
            alias: name,
            target: path,
            taskShutdownTimeout: shutdownTimeout,
            executorWorkers: executorWorkers
        )
        argument.config = config
        argument.options.startupTimeout = startupTimeout
        var configuration = HostConfiguration(plugins: [argument])
        configuration.taskShutdownTimeout = shutdownTimeout
        configuration.executorWorkers = executorWorkers
        configuration.stopOnUnhandledErrors = stopOnUnhandledErrors
        configuration.logLevel = logLevel
        configuration.logFormat = .json
        configuration.allowInsecurePlugins = allowInsecurePlugins
        configuration.loadTimeout = loadTimeout
        return configuration
    }

    /// The child's whole life: checks its channel, applies its limits, then runs the host with
    /// its one plugin and exits with the host's exit code.
    static func main(_ arguments: [String]) async -> Never {
        guard let worker = IsolatedWorker(arguments: arguments),
            ProcessEnvironment.value(IsolationChannel.environmentVariable) == "\(IsolationChannel.childDescriptor)",
            fcntl(IsolationChannel.childDescriptor, F_GETFD) >= 0
        else {
            HostLogHandler.writeError("internal worker mode started without its host's arguments", format: .json)
            terminateProcess(AioRunExitCode.usage)
        }
        // `ps` shows `aiorun:web`, not `exe`, the name of a process started from
        // `/proc/self/exe` (README, "Isolation").
        ThreadName.setProcess("aiorun:\(worker.name)")
        if let limit = worker.openFilesLimit {
            var value = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &value) != 0 {
                let reason = String(cString: strerror(errno))
                HostLogHandler.writeError("cannot set the open-files limit to \(limit): \(reason)", format: .json)
                terminateProcess(AioRunExitCode.usage)
            }
        }
        let channel = WorkerChannel(
            fd: IsolationChannel.childDescriptor,
            endsOnFailure: worker.restartsOnFailure,
            holds: worker.holdsBeforeStart
        )
        await Host.runAndExit(worker.configuration, channel: channel)
    }

    /// `1.5` for 1.5 s, as `Double` reads it back.
    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }
}
