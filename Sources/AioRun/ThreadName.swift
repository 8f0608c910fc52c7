#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread (as `ps -L` and `/proc/self/task/*/comm` show it), through
/// `/proc/thread-self/comm`: glibc's `pthread_setname_np` is not visible to Swift without
/// `_GNU_SOURCE`. Names are cut to 15 bytes by the kernel.
package enum ThreadName {
    /// Names the calling thread `name`, cut to 15 bytes; does nothing if `/proc` is not there.
    static func set(_ name: String) {
        write(name, to: "/proc/thread-self/comm")
    }

    /// Names the process (its main thread, whichever thread calls), as `ps`, `top` and `pstree`
    /// show it: an isolated plugin's child (README, "Isolation").
    package static func setProcess(_ name: String) {
        write(name, to: "/proc/self/comm")
    }

    private static func write(_ name: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
