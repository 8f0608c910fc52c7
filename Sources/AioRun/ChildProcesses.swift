#if canImport(Glibc)
import Glibc
#endif

/// The short-lived child processes the host has running (its pre-flight and config reader, each
/// leading a process group of its own), so that no exit of the host leaves one behind: a forced
/// exit kills them, whatever they were waiting for (README, "Failure modes").
public enum ChildProcesses {
    private static let live = LockedValue<Set<pid_t>>([])

    /// Records a child that leads its own process group.
    public static func register(_ pid: pid_t) {
        live.withLock { _ = $0.insert(pid) }
    }

    /// Forgets a child that has been waited for.
    public static func unregister(_ pid: pid_t) {
        live.withLock { _ = $0.remove(pid) }
    }

    /// Sends SIGKILL to the process group of every child still running.
    static func killAll() {
        for pid in live.withLock({ $0 }) { kill(-pid, SIGKILL) }
    }
}
