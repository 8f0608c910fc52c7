/// The host's exit codes (README, "Exit codes"). `run {}` programs use the same meanings.
///
/// Every verdict the runtime reaches is decided here, by the constants and functions below, and
/// every exit goes through ``terminateProcess(_:)``.
public enum AioRunExitCode {
    /// Clean shutdown: signal or request, everything stopped in time.
    public static let clean: Int32 = 0
    /// A plugin failed and `--stop-on-unhandled-errors` stopped the host.
    public static let unhandledError: Int32 = 1
    /// A plugin or the `run {}` program stopped with an error: `requestShutdown(error:)` (README,
    /// "Exit codes", "In-process use"). The cause wins over ``abandoned``, as with
    /// ``unhandledError``.
    public static let stoppedWithError: Int32 = 3
    /// Usage error: a bad option or value.
    public static let usage: Int32 = 64
    /// A plugin was rejected while loading; nothing started.
    public static let pluginRejected: Int32 = 65
    /// A plugin failed to start: it did not become ready within its startup time limit, or its
    /// `run()` threw (or it reported a failure) before it was ready, with no restart left. Every
    /// plugin started by then was torn down in reverse order.
    public static let failedToStart: Int32 = 69
    /// Shutdown finished, but something was abandoned at a time limit.
    public static let abandoned: Int32 = 70
    /// A plugin with the restart policy `on-failure` failed once more after spending its restart
    /// budget; the host shut down in reverse order.
    public static let restartBudgetSpent: Int32 = 71
    /// An isolated plugin's process ended on its own after it was ready (a crash, a signal, an
    /// `exit`, a lost channel, a limit exceeded) and its restart policy is `no`: every other
    /// plugin was torn down in reverse order (README, "Isolation").
    public static let pluginLost: Int32 = 72
    /// `--check` or `--inspect` could not write its report (stdout closed, full or stalled).
    public static let outputFailed: Int32 = 74

    /// A second signal `signal` forced an immediate exit: 128 + signal.
    public static func forced(by signal: Int32) -> Int32 { 128 + signal }

    /// The code a finished shutdown earns: ``unhandledError`` when an unhandled error stopped the
    /// host under `--stop-on-unhandled-errors` (it takes precedence: the failure is the cause),
    /// else ``abandoned`` when any unit's time limit expired, else ``clean``.
    public static func afterShutdown(stoppedForUnhandledError: Bool, abandonedAny: Bool) -> Int32 {
        if stoppedForUnhandledError { return unhandledError }
        if abandonedAny { return abandoned }
        return clean
    }

    /// The code a finished shutdown earns, knowing its trigger: ``failedToStart`` when a plugin
    /// failed to start, ``restartBudgetSpent`` when one spent its restart budget,
    /// ``stoppedWithError`` when one stopped with an error (the cause wins,
    /// as with ``unhandledError``), else as ``afterShutdown(stoppedForUnhandledError:abandonedAny:)``.
    public static func afterShutdown(
        trigger: ShutdownTrigger,
        stoppedForUnhandledError: Bool,
        abandonedAny: Bool
    ) -> Int32 {
        switch trigger {
        case .startFailed: return failedToStart
        case .restartBudgetSpent: return restartBudgetSpent
        case .stoppedWithError: return stoppedWithError
        case .unitLost: return pluginLost
        default: return afterShutdown(stoppedForUnhandledError: stoppedForUnhandledError, abandonedAny: abandonedAny)
        }
    }

    /// The code when plugin code called `exit(status)` while plugins ran: teardown is skipped, so
    /// `exit(0)` becomes ``abandoned`` (no clean shutdown took place); any other status is kept.
    public static func afterPluginExit(status: Int32) -> Int32 {
        status == 0 ? abandoned : status
    }
}
