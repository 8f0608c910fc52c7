@_exported import AioRunPluginAPI
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Runs one program under the AioRun lifecycle, like aiorun's `run()`, and exits the process.
///
/// Use it for a program whose `main` is the whole process (a service, a daemon): the exit code
/// tells its supervisor what happened (README, "Exit codes"). When code must run after the
/// shutdown, or an error must reach the caller, use ``runUntilShutdown(options:logLevel:logger:_:)``
/// (README, "In-process use").
///
/// `main` runs as a tracked task with a ``PluginContext`` named `main`, so the free functions
/// `spawn`, `shutdownWaitsFor`, `startShield`, `onShutdown`, `requestShutdown` and `executor`
/// work inside it. As in aiorun, returning from `main` does not end the program: it runs until
/// SIGINT/SIGTERM or `requestShutdown`, then runs the same teardown as the host and exits with
/// the same codes.
///
/// The default `logger` writes text lines to stderr through a bounded queue
/// (``StandardErrorLogHandler``), so a stalled stderr reader cannot hold up signals, time limits
/// or the exit (see README, "Failure modes"); it does not use `LoggingSystem`'s bootstrapped
/// handler. Pass a `Logger` of your own to log elsewhere. `logLevel`, when given, sets the level
/// of whichever logger is used, and with it the level below which `context.log` drops records.
public func run(
    options: LifecycleOptions = LifecycleOptions(),
    logLevel: PluginLogLevel? = nil,
    logger: Logger = Logger(label: "aiorun") { StandardErrorLogHandler(label: $0) },
    _ main: @escaping @Sendable () async throws -> Void
) async -> Never {
    StandardOutput.makeLineBuffered()
    let logger = logger.withLevel(logLevel)
    await exitAfter {
        let manager = await LifecycleManager(options: options, logger: logger)
        let unit = manager.addUnit(name: "main", config: PluginConfig(), main: main)
        return await manager.run([unit]).exitCode
    }
}

/// Runs one program under the AioRun lifecycle, like aiorun's `run()`, and returns when its
/// shutdown has finished: the code after it runs, with the process as it was before (the signal
/// dispositions it found are restored).
///
/// The same program, teardown and log as ``run(options:logLevel:logger:_:)``. What `run {}` would
/// turn into an exit code is returned or thrown instead, as aiorun raises:
/// - the error that caused the stop is thrown: the one given to `requestShutdown(error:)`, or,
///   with `stopOnUnhandledErrors`, the unhandled error that stopped it (an error `main` throws is
///   such an error: as in aiorun, it stops the program only with `stopOnUnhandledErrors`);
/// - else the first error an `onShutdown` callback threw is thrown: the cause wins over a
///   callback's error, as in aiorun;
/// - else the ``ShutdownReport`` is returned; its `exitCode` is what `run {}` would have exited
///   with (70 when something was abandoned at a time limit, for example).
///
/// A second SIGINT/SIGTERM during the shutdown still ends the process at once with 128 + signal:
/// it is the operator's "now".
@discardableResult
public func runUntilShutdown(
    options: LifecycleOptions = LifecycleOptions(),
    logLevel: PluginLogLevel? = nil,
    logger: Logger = Logger(label: "aiorun") { StandardErrorLogHandler(label: $0) },
    _ main: @escaping @Sendable () async throws -> Void
) async throws -> ShutdownReport {
    StandardOutput.makeLineBuffered()
    let manager = await LifecycleManager(options: options, logger: logger.withLevel(logLevel))
    let unit = manager.addUnit(name: "main", config: PluginConfig(), main: main)
    let report = await manager.run([unit])
    if let error = manager.stopErrors.withLock({ $0.thrown }) { throw error }
    return report
}

extension Logger {
    /// This logger, at `level` when one is given.
    fileprivate func withLevel(_ level: PluginLogLevel?) -> Logger {
        guard let level else { return self }
        var logger = self
        logger.logLevel = Logger.Level(pluginRank: level.rawValue)
        return logger
    }
}
