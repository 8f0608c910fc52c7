#if canImport(Glibc)
import Glibc
#endif

/// The process's C `stdout`, which plugins' `print` writes to.
public enum StandardOutput {
    /// Makes C `stdout` line-buffered even when it is a pipe, so that output appears when it is
    /// printed rather than at exit. Swift 6 forbids touching the mutable global `stdout`
    /// directly, so the `FILE *` is read from its symbol.
    public static func makeLineBuffered() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "stdout") else { return }
        guard let file = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee else { return }
        setvbuf(file, nil, _IOLBF, 0)
    }
}
