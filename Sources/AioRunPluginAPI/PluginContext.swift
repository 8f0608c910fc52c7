/// A plugin's window onto the host's shared lifecycle manager.
///
/// The host creates one per plugin instance (an alias gets its own) and passes it to the plugin's
/// factory. It is also available as ``PluginContext/current`` inside every task the runtime
/// starts for the plugin: `run()`, spawned tasks, shields and shutdown callbacks.
public final class PluginContext: Sendable {
    /// The plugin's name (or alias). It keys logs, config and reports.
    public let name: String
    /// The plugin's log surface, carrying `plugin=<name>`.
    public let log: PluginLog
    /// The plugin's config from `--set NAME.KEY=VALUE`.
    public let config: PluginConfig
    /// The plugin's pool of real threads for blocking jobs.
    public let executor: ExecutorPoolHandle
    /// A suggested thread count for libraries that start their own threads (for example
    /// `NIOSingletons.groupLoopCountSuggestion`). At least 1.
    public let threadHint: Int
    /// The runtime that backs this context. Runtime only: plugins use the methods below.
    @_spi(AioRunRuntime) public let scope: any LifecycleScope

    /// The context of the plugin whose task is running now, if any.
    @TaskLocal public static var current: PluginContext?

    /// Creates a context. Runtime only: the host creates one per plugin instance.
    @_spi(AioRunRuntime)
    public init(name: String, log: PluginLog, config: PluginConfig, threadHint: Int, scope: any LifecycleScope) {
        self.name = name
        self.log = log
        self.config = config
        self.threadHint = max(1, threadHint)
        self.scope = scope
        self.executor = ExecutorPoolHandle(scope: scope)
    }

    /// Starts a tracked task. Shutdown cancels it (phase 2) and waits for it (phase 3).
    /// An error it throws is logged with the plugin's name and `label`.
    public func spawn(
        _ label: String? = nil,
        file: String = #fileID,
        line: Int = #line,
        _ operation: @escaping @Sendable () async throws -> Void
    ) {
        scope.spawn(label: label ?? "\(file):\(line)", operation: operation)
    }

    /// Runs `operation` so that shutdown cannot cut it, like aiorun's `shutdown_waits_for`.
    ///
    /// The work starts at once in a task tracked as a shield. If the caller is cancelled, by
    /// shutdown or otherwise, the caller gets `CancellationError` at once while the work runs on,
    /// and this plugin's teardown waits for it (within the time limit). A caller that was not
    /// cancelled gets the result or the error. An error from work whose caller is gone is logged.
    /// Shields nest; tasks the work starts with ``spawn(_:file:line:_:)`` are ordinary tracked tasks.
    public func shutdownWaitsFor<T: Sendable>(
        _ label: String? = nil,
        file: String = #fileID,
        line: Int = #line,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await scope.shield(label: label ?? "\(file):\(line)", operation: operation)
    }

    /// Registers a callback that runs first in this plugin's teardown, while its work still runs.
    public func onShutdown(
        _ label: String? = nil,
        file: String = #fileID,
        line: Int = #line,
        _ callback: @escaping @Sendable () async throws -> Void
    ) {
        scope.onShutdown(label: label ?? "\(file):\(line)", callback: callback)
    }

    /// Asks the host to shut down, like aiorun's `loop.stop()`. The exit code stays 0.
    public func requestShutdown(reason: String = "requested by plugin") {
        scope.requestShutdown(reason: reason)
    }
}

/// A plugin's executor pool: real threads, created lazily, drained and joined at shutdown.
public struct ExecutorPoolHandle: Sendable {
    /// The runtime that owns the pool. Runtime only.
    @_spi(AioRunRuntime) public let scope: any LifecycleScope

    /// Creates a handle. Runtime only: ``PluginContext`` makes the one a plugin sees.
    @_spi(AioRunRuntime)
    public init(scope: any LifecycleScope) {
        self.scope = scope
    }

    /// The most threads this pool will create.
    public var maxWorkers: Int { scope.executorWorkers }

    /// Runs `job` on a pool thread and returns its result or error.
    ///
    /// If the caller is cancelled while the job is still queued, the job never starts and the
    /// caller gets `CancellationError`. A job that has started runs to its end. Once the plugin's
    /// teardown drains the pool, new jobs fail with an ``AioRunAPIError`` with code
    /// ``AioRunAPIError/Code/executorClosed``.
    public func run<T: Sendable>(
        _ label: String? = nil,
        file: String = #fileID,
        line: Int = #line,
        _ job: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await scope.runBlocking(label: label ?? "\(file):\(line)", job: job)
    }
}

/// Runs `operation` shielded from shutdown in the current plugin's (or `run {}` program's)
/// lifecycle; see ``PluginContext/shutdownWaitsFor(_:file:line:_:)``.
///
/// Throws an ``AioRunAPIError`` with code ``AioRunAPIError/Code/noCurrentContext`` outside an
/// AioRun-managed task, before starting anything.
public func shutdownWaitsFor<T: Sendable>(
    _ label: String? = nil,
    file: String = #fileID,
    line: Int = #line,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let context = PluginContext.current else {
        throw AioRunAPIError.noCurrentContext(function: "shutdownWaitsFor")
    }
    return try await context.shutdownWaitsFor(label, file: file, line: line, operation)
}
