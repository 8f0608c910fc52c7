import AioRun
import Logging

/// The host-wide values an isolated plugin's child inherits (README, "Isolation").
struct IsolatedDefaults: Sendable {
    /// The teardown time limit of plugins without their own.
    let shutdownTimeout: Duration
    /// The startup time limit of plugins without their own.
    let startupTimeout: Duration
    /// The pool size of plugins without their own.
    let executorWorkers: Int
    /// `--stop-on-unhandled-errors`.
    let stopOnUnhandledErrors: Bool
    /// `--log-level`.
    let logLevel: Logger.Level
    /// `--allow-insecure-plugins`.
    let allowInsecurePlugins: Bool
    /// `--load-timeout`.
    let loadTimeout: Duration

    /// The values of `configuration`, with the time limits and pool size `manager` fills in.
    init(_ configuration: HostConfiguration, manager: LifecycleManager) {
        shutdownTimeout = manager.options.taskShutdownTimeout
        startupTimeout = manager.options.startupTimeout
        executorWorkers = manager.options.executorWorkers
        stopOnUnhandledErrors = configuration.stopOnUnhandledErrors
        logLevel = configuration.logLevel
        allowInsecurePlugins = configuration.allowInsecurePlugins
        loadTimeout = configuration.loadTimeout
    }

    /// The child's description for `plugin`, with its config values, its own unit options (over
    /// these defaults) and its limits.
    func worker(
        _ plugin: LoadedPlugin,
        config: [String: String],
        options: UnitOptions,
        limits: IsolationSettings
    ) -> IsolatedWorker {
        var worker = IsolatedWorker(
            name: plugin.name,
            path: plugin.path,
            shutdownTimeout: options.shutdownTimeout ?? shutdownTimeout,
            startupTimeout: options.startupTimeout ?? startupTimeout,
            executorWorkers: options.executorWorkers ?? executorWorkers,
            loadTimeout: loadTimeout
        )
        worker.config = config
        worker.stopOnUnhandledErrors = stopOnUnhandledErrors
        worker.logLevel = logLevel
        worker.allowInsecurePlugins = allowInsecurePlugins
        worker.openFilesLimit = limits.openFilesLimit
        worker.restartsOnFailure = options.restart?.mode == .onFailure
        return worker
    }
}
