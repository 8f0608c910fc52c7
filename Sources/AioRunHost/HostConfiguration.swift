import AioRun
import Logging

/// Everything the host needs, validated: the command line's values (``CommandLineOptions``)
/// merged over the config file's, over the defaults (see README, Command line). Made by
/// ``init(_:)``; only ``Host`` reads it.
public struct HostConfiguration: Sendable {
    /// What the host does with the plugins.
    enum Mode: Sendable {
        /// Load, check, create and run them (the default).
        case run
        /// Load, check and create them, print one line each, run nothing (`--check`).
        case check
        /// Like `check` for one plugin, with its entry and needed libraries (`--inspect`).
        case inspect
    }

    /// The plugins, in load order.
    var plugins: [PluginArgument]
    /// Each plugin's time limit for teardown phases 1–4.
    var taskShutdownTimeout: Duration = .seconds(60)
    /// Each plugin's executor pool size.
    var executorWorkers = LifecycleOptions.defaultExecutorWorkers
    /// Whether an unhandled error stops the host with exit code 1.
    var stopOnUnhandledErrors = false
    /// What is settled per plugin once they are loaded: `--set` config, the command line's
    /// `--OPTION NAME=VALUE` values, and the host-wide values they override.
    var settings = PluginSettings()
    /// Whether all plugins start at once instead of each after the one before is ready
    /// (`--concurrent-start`).
    var concurrentStart = false
    /// How long the host keeps serving after the first signal before teardown (`--drain-delay`).
    var drainDelay: Duration = .zero
    /// The least severe level logged.
    var logLevel = Logger.Level.info
    /// What the host does with the plugins.
    var mode = Mode.run
    /// How log lines are written (`--log-format`).
    var logFormat = LogFormat.text
    /// Whether plugin files writable or owned by others are accepted (`--allow-insecure-plugins`).
    var allowInsecurePlugins = false
    /// Whether every plugin is first loaded in a throwaway child process (`--preflight`; always
    /// for `--check` and `--inspect`), so that a file that crashes the dynamic loader is refused
    /// instead of ending the host.
    var preflight = false
    /// The time limit for loading and creating all plugins (`--load-timeout`).
    var loadTimeout: Duration = .seconds(60)

    /// A configuration with every default, for `plugins`.
    init(plugins: [PluginArgument]) {
        self.plugins = plugins
    }

    /// Adds one `--set`, a later one for the same plugin and key replacing an earlier one.
    mutating func add(_ setting: PluginSetting) {
        settings.config[setting.name, default: [:]][setting.key] = setting.value
    }

    /// Each plugin's default startup time limit (`--startup-timeout SECONDS`, `startup-timeout`).
    var startupTimeout: Duration { settings.hostDefaults.startupTimeout ?? PluginSettings.defaultStartupTimeout }

    /// Each plugin's default restart policy (`--restart`, `--restart-max`, `--restart-window`).
    var restart: RestartPolicy { settings.hostDefaults.restartPolicy(over: .no) }

    /// The lifecycle manager's options for this configuration, reporting to `observer`.
    func lifecycleOptions(observer: LifecycleObserver?) -> LifecycleOptions {
        var options = LifecycleOptions(
            taskShutdownTimeout: taskShutdownTimeout,
            executorWorkers: executorWorkers,
            stopOnUnhandledErrors: stopOnUnhandledErrors
        )
        options.startupTimeout = startupTimeout
        options.concurrentStart = concurrentStart
        options.drainDelay = drainDelay
        options.restart = restart
        if let observer { options.observer = observer }
        return options
    }
}
