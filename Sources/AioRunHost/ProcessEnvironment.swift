#if canImport(Glibc)
import Glibc
#endif

/// The environment variables the host reads (`AIORUN_PLUGIN_PATH`, `NOTIFY_SOCKET`,
/// `WATCHDOG_USEC`, `WATCHDOG_PID`).
enum ProcessEnvironment {
    /// The value of the environment variable `name`, if it is set.
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
