#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread (as `ps -L` and `/proc/self/task/*/comm` show it), through
/// `/proc/thread-self/comm`: glibc's `pthread_setname_np` is not visible to Swift without
/// `_GNU_SOURCE`. Names are cut to 15 bytes by the kernel.
enum ThreadName {
    /// Names the calling thread `name`, cut to 15 bytes; does nothing if `/proc` is not there.
    static func set(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
