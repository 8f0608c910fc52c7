#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on the AioRun control thread and exits the process with the code it returns.
///
/// The exit happens on the control thread too, so that a plugin blocking every thread of the
/// cooperative pool cannot delay the exit of a host that has finished its shutdown. See
/// ``terminateProcess(_:)`` for what happens to buffered output.
public func exitAfter(_ body: @Sendable () async -> Int32) async -> Never {
    let code = await ProcessExitScope.$isExiting.withValue(true) {
        await withTaskExecutorPreference(ControlExecutor.shared) { () async -> Int32 in
            terminateProcess(await body())
        }
    }
    // Not reached: the closure above exits on the control thread.
    terminateProcess(code)
}

/// Ends the process now with `code`. Every exit the runtime decides on goes through here, the one
/// `_exit` call of the AioRun module (see README, "Exit codes"), and no stream can stop it
/// (README, "Failure modes"):
///
/// 1. C stdio is flushed (`stdout` first, then every stream) on a helper thread, because a
///    plugin's `print` blocked on a stalled reader holds the `stdout` lock;
/// 2. meanwhile the log queue drains to stderr (``BoundedLogWriter/drain(quietLimit:totalLimit:)``:
///    until it is empty, or nothing could be written for 1 s, or 5 s in all);
/// 3. the flush is given what is left of ``StandardOutput/exitFlushLimit`` (1 s), at least;
/// 4. child processes still running (a pre-flight) are killed with their process groups;
/// 5. then `_exit(code)`, whatever is still blocked. Not `exit`: abandoned plugin threads may
///    still be running, and atexit handlers and library destructors must not race them.
public func terminateProcess(_ code: Int32) -> Never {
    let flushed = StandardOutput.flushInBackground()
    BoundedLogWriter.standardError.drain()
    flushed.wait(atMost: StandardOutput.exitFlushLimit)
    ChildProcesses.killAll()
    _exit(code)
}

/// Whether the running code is inside ``exitAfter(_:)``: the process exits once it returns, so a
/// lifecycle manager keeps its signal handling until then (see ``LifecycleManager/run(_:)``).
enum ProcessExitScope {
    @TaskLocal static var isExiting = false
}
