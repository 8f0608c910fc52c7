/// Settings of one lifecycle manager, shared by every unit unless a unit overrides them.
public struct LifecycleOptions: Sendable {
    /// Each unit's time limit for teardown phases 1–4 (`--task-shutdown-timeout`, default 60 s).
    public var taskShutdownTimeout: Duration
    /// Each unit's executor pool size (`--executor-workers`, default `min(32, cores + 4)`).
    public var executorWorkers: Int
    /// Whether an unhandled error starts shutdown and makes the exit code 1.
    public var stopOnUnhandledErrors: Bool
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
