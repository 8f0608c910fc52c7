import AioRun
import AioRunPluginAPI
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Catches `exit()` called by plugin code (see README, "Failure modes").
///
/// The host itself never calls `exit()`: every exit it decides on goes through `_exit` (see
/// `terminateProcess`). So an `exit()` after ``install(format:logger:)`` comes from plugin code (a
/// library constructor, an entry, an initializer, a task, a callback), and must not end the
/// process with a code that means something else:
/// - while plugins load and are created, and in `--check`/`--inspect`: one error line naming the
///   plugin and the step, then exit 65. A constructor's `exit(0)` during `--check` would
///   otherwise pass a broken plugin as "checked" in a deployment pipeline.
/// - while plugins run or stop: a critical line that teardown is skipped (nothing more is waited
///   for: no callback, shield or executor job), naming the plugin when the calling task belongs to
///   one. The code is kept, except that 0 becomes 70: 0 promises a clean shutdown, and none took
///   place; another code is the plugin's own verdict for its supervisor and stays as it is.
/// Atexit handlers registered after the host's (by plugin libraries) still run before this one;
/// `_exit`, `quick_exit` and signals are not caught.
enum PluginExitGuard {
    /// What the process is doing, for the handler.
    enum Phase: Sendable {
        /// Nothing installed yet, or the host is exiting on purpose.
        case none
        /// Loading, checking and creating plugins; `progress` says which one.
        case loading(LoadProgress)
        /// Plugins run or stop.
        case running
    }

    private struct State: Sendable {
        var phase = Phase.none
        var format = LogFormat.text
        var logger: Logger?
        var installed = false
        /// The host's own process: a child that plugin code forked inherits the handler, and
        /// its `exit()` is none of the host's business.
        var pid: pid_t = 0
    }

    private static let state = Mutex(State())

    /// Installs the handler once, with how to write its lines.
    static func install(format: LogFormat, logger: Logger) {
        let first = state.withLock { state -> Bool in
            state.format = format
            state.logger = logger
            state.pid = getpid()
            defer { state.installed = true }
            return !state.installed
        }
        guard first else { return }
        on_exit({ status, _ in PluginExitGuard.handle(status: status) }, nil)
    }

    /// Sets the phase that an `exit()` from plugin code is judged in.
    static func enter(_ phase: Phase) {
        state.withLock { $0.phase = phase }
    }

    private static func handle(status: Int32) {
        let (phase, format, logger, pid) = state.withLock { ($0.phase, $0.format, $0.logger, $0.pid) }
        guard pid == getpid() else { return }
        switch phase {
        case .none:
            return
        case .loading(let progress):
            let step = progress.step
            let subject = step.map { "plugin \($0.plugin): \($0.step)" } ?? "loading plugins"
            HostLogHandler.writeError(
                "\(subject): plugin code called exit(\(status)) while plugins were loaded; refused, no plugin was started",
                format: format
            )
            // Through the bounded exit path, so that the queued log line is written first.
            terminateProcess(AioRunExitCode.pluginRejected)
        case .running:
            let code = AioRunExitCode.afterPluginExit(status: status)
            let caller = PluginContext.current.map { "plugin \($0.name)" } ?? "plugin code"
            let because = status == 0 ? ", not 0: no clean shutdown took place" : ""
            logger?.critical(
                "\(caller) called exit(\(status)): teardown is skipped, nothing still running is waited for; exiting with \(code)\(because)"
            )
            terminateProcess(code)
        }
    }
}
