#if canImport(Glibc)
import Glibc
#endif

/// The number of online CPU cores, read once: glibc's `sysconf(_SC_NPROCESSORS_ONLN)` opens and
/// parses /sys/devices/system/cpu/online on every call, which cost a start with 100 plugins
/// about 2 ms when every plugin's context and pool asked again.
enum OnlineCores {
    /// At least 1.
    static let count = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}
