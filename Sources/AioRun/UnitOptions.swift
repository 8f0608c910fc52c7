@_spi(AioRunRuntime) import AioRunPluginAPI

/// One unit's own settings, each overriding the manager's ``LifecycleOptions`` when set.
public struct UnitOptions: Sendable {
    /// Its executor pool size, or `nil` for the manager's.
    public var executorWorkers: Int?
    /// Its teardown time limit, or `nil` for the manager's.
    public var shutdownTimeout: Duration?
    /// Its startup time limit (from its start until it is ready), or `nil` for the manager's.
    public var startupTimeout: Duration?
    /// Its restart policy, or `nil` for the manager's.
    public var restart: RestartPolicy?
    /// How it becomes ready (a plugin declares it in its export).
    public var readiness: PluginReadiness

    /// Creates unit options; every `nil` takes the manager's value.
    public init(
        executorWorkers: Int? = nil,
        shutdownTimeout: Duration? = nil,
        startupTimeout: Duration? = nil,
        restart: RestartPolicy? = nil,
        readiness: PluginReadiness = .atStart
    ) {
        self.executorWorkers = executorWorkers
        self.shutdownTimeout = shutdownTimeout
        self.startupTimeout = startupTimeout
        self.restart = restart
        self.readiness = readiness
    }
}
