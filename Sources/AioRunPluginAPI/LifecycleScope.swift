/// The runtime's side of a ``PluginContext``: one plugin's share of the shared lifecycle manager.
///
/// The AioRun runtime implements it; plugins use it only through ``PluginContext`` and cannot see
/// it (`@_spi(AioRunRuntime)`, see README "Writing a plugin"). Every method
/// takes a label that names the work in logs, time-limit reports and the shutdown report.
@_spi(AioRunRuntime)
public protocol LifecycleScope: AnyObject, Sendable {
    /// Starts a tracked task. It is cancelled at shutdown (phase 2) and waited for (phase 3).
    /// A task spawned once teardown has begun starts already cancelled.
    func spawn(label: String, operation: @escaping @Sendable () async throws -> Void)

    /// Runs `operation` shielded from cancellation; see ``PluginContext/shutdownWaitsFor(_:file:line:_:)``.
    func shield<T: Sendable>(label: String, operation: @escaping @Sendable () async throws -> T) async throws -> T

    /// Registers a callback that runs at the start of this plugin's teardown (phase 1).
    func onShutdown(label: String, callback: @escaping @Sendable () async throws -> Void)

    /// Starts the host's shutdown, like aiorun's `loop.stop()`. Exit code 0.
    func requestShutdown(reason: String)

    /// Runs a blocking job on this plugin's executor pool and returns its result.
    func runBlocking<T: Sendable>(label: String, job: @escaping @Sendable () throws -> T) async throws -> T

    /// The most worker threads the plugin's executor pool will create.
    var executorWorkers: Int { get }

    /// The plugin says it is ready (API 2.1).
    func reportReady()
    /// The plugin says it has failed (API 2.1).
    func reportFailure(_ error: any Error)
    /// Whether the host is draining, or this instance is being torn down (API 2.1).
    var isDraining: Bool { get }
    /// Whether the unit counts as ready (API 2.1).
    var isReady: Bool { get }
    /// The unit's teardown time limit (API 2.1).
    var shutdownTimeout: Duration { get }
}

/// The requirements API 2.1 added, with defaults for runtimes built before them (README, "How the
/// API evolves").
extension LifecycleScope {
    /// The plugin says it is ready; see ``PluginContext/reportReady()``.
    public func reportReady() {}
    /// The plugin says it has failed; see ``PluginContext/reportFailure(_:)``.
    public func reportFailure(_ error: any Error) {}
    /// Whether the host is draining; see ``PluginContext/isDraining``.
    public var isDraining: Bool { false }
    /// Whether the unit counts as ready; see ``PluginContext/isReady``.
    public var isReady: Bool { true }
    /// The unit's teardown time limit; see ``PluginContext/shutdownTimeout``.
    public var shutdownTimeout: Duration { .seconds(60) }
}
