#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on the AioRun control thread and exits the process with the code it returns.
///
/// The exit happens on the control thread too, so that a plugin blocking every thread of the
/// cooperative pool cannot delay the exit of a host that has finished its shutdown. Buffered
/// C stdio output is flushed first; then `_exit`, not `exit`: abandoned plugin threads may still
/// be running, and atexit handlers and library destructors must not race them.
public func exitAfter(_ body: @Sendable () async -> Int32) async -> Never {
    let code = await withTaskExecutorPreference(ControlExecutor.shared) { () async -> Int32 in
        terminateProcess(await body())
    }
    // Not reached: the closure above exits on the control thread.
    _exit(code)
}

/// Ends the process now with `code`: flushes buffered C stdio output, then `_exit`. Every exit
/// the runtime decides on goes through here (see README, "Exit codes").
public func terminateProcess(_ code: Int32) -> Never {
    fflush(nil)
    _exit(code)
}
