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

    /// `min(32, cores + 4)`, CPython's ThreadPoolExecutor default that aiorun uses.
    public static var defaultExecutorWorkers: Int { ExecutorPool.defaultWorkers }
}
