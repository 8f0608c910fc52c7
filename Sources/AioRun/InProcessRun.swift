@_exported import AioRunPluginAPI
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Runs one program under the AioRun lifecycle, like aiorun's `run()`, and exits the process.
///
/// `main` runs as a tracked task with a ``PluginContext`` named `main`, so `shutdownWaitsFor`,
/// `PluginContext.current?.spawn` and the executor pool work inside it. As in aiorun, returning
/// from `main` does not end the program: it runs until SIGINT/SIGTERM or `requestShutdown`, then
/// runs the same teardown as the host and exits with the same codes (see README, "Exit codes").
///
/// The default `logger` writes text lines to stderr through a bounded queue
/// (``StandardErrorLogHandler``), so a stalled stderr reader cannot hold up signals, time limits
/// or the exit (see README, "Failure modes"); it does not use `LoggingSystem`'s bootstrapped
/// handler. Pass a `Logger` of your own to log elsewhere.
public func run(
    options: LifecycleOptions = LifecycleOptions(),
    logger: Logger = Logger(label: "aiorun") { StandardErrorLogHandler(label: $0) },
    _ main: @escaping @Sendable () async throws -> Void
) async -> Never {
    StandardOutput.makeLineBuffered()
    await exitAfter {
        let manager = await LifecycleManager(options: options, logger: logger)
        let unit = manager.addUnit(name: "main", config: PluginConfig(), main: main)
        return await manager.run([unit]).exitCode
    }
}
