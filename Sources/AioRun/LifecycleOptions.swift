import Logging

/// Settings of one lifecycle manager, shared by every unit unless a unit overrides them.
public struct LifecycleOptions: Sendable {
    /// Each unit's time limit for teardown phases 1–4 (`--task-shutdown-timeout`, default 60 s).
    public var taskShutdownTimeout: Duration
    /// Each unit's executor pool size (`--executor-workers`, default `min(32, cores + 4)`).
    public var executorWorkers: Int
    /// Whether an unhandled error starts shutdown and makes the exit code 1.
    public var stopOnUnhandledErrors: Bool
    /// Each unit's time limit from its start until it is ready (`--startup-timeout`, default
    /// 60 s; README, "Readiness and ordered start").
    public var startupTimeout: Duration = .seconds(60)
    /// Whether units start all at once instead of each after the one before it is ready
    /// (`--concurrent-start`).
    public var concurrentStart = false
    /// How long the host keeps serving after the first signal before teardown starts
    /// (`--drain-delay`, default 0; README, "Drain delay").
    public var drainDelay: Duration = .zero
    /// Each unit's restart policy (`--restart`, default `no`; README, "Restart on failure").
    public var restart = RestartPolicy.no
    /// Hooks for a supervisor (systemd).
    public var observer = LifecycleObserver()
    /// Whether this manager runs an isolated plugin's child, which reports to its host (README,
    /// "Isolation"): the host logs the routine lines (ready, shutdown started, stopped, the
    /// shutdown report) for it, so here they are debug lines and the report is not logged.
    package var reportsToHost = false
    /// Whether a failure after ready ends this manager's run
    /// (``ShutdownTrigger/unitFailed(plugin:reason:)``) instead of being restarted or logged: an
    /// isolated plugin's child whose host restarts it on failure (README, "Isolation").
    package var endsOnFailure = false
    /// Why the first SIGINT/SIGTERM is ignored, if it is: an isolated plugin's child takes its
    /// stop from its host, so that a signal sent to every process at once (systemd's
    /// `KillMode=control-group`) cannot break the reverse order (README, "Isolation"). A second
    /// one still forces the exit.
    package var ignoresFirstSignal: String?
    /// What the first SIGINT/SIGTERM does instead of starting the shutdown, like aiorun's
    /// `shutdown_handler` (README, "In-process use"): `nil` (the default) starts it. The handler
    /// runs as a tracked task of the first unit (the `main` of `run {}`), so it may finish a unit
    /// of work and then call `requestShutdown`; until something starts the shutdown the program
    /// runs on. A second SIGINT/SIGTERM still forces the exit with 128 + signal. For in-process
    /// programs only: the host never sets it, and plugins cannot reach it.
    public var shutdownHandler: (@Sendable (ShutdownSignal) async throws -> Void)?

    /// Creates options; the defaults are aiorun's.
    public init(
        taskShutdownTimeout: Duration = .seconds(60),
        executorWorkers: Int = LifecycleOptions.defaultExecutorWorkers,
        stopOnUnhandledErrors: Bool = false
    ) {
        self.taskShutdownTimeout = taskShutdownTimeout
        self.executorWorkers = executorWorkers
        self.stopOnUnhandledErrors = stopOnUnhandledErrors
    }

    /// The level of a routine line that is logged at `level` (see ``reportsToHost``).
    package func routine(_ level: Logger.Level) -> Logger.Level { reportsToHost ? .debug : level }

    /// `min(32, cores + 4)`, CPython's ThreadPoolExecutor default that aiorun uses.
    public static var defaultExecutorWorkers: Int { ExecutorPool.defaultWorkers }
}

/// The signal that a ``LifecycleOptions/shutdownHandler`` is called for.
public struct ShutdownSignal: Sendable {
    /// `SIGINT` or `SIGTERM`.
    public let name: String
    /// Its number.
    public let number: Int32
}
