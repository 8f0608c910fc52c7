#if canImport(Glibc)
import Glibc
#endif

/// The process's C `stdout`, which plugins' `print` writes to.
public enum StandardOutput {
    /// At exit, how long the flush of C stdio may take (counted from its start) before the
    /// process exits without it (see README, "Failure modes").
    public static let exitFlushLimit: Duration = .seconds(1)

    /// Makes C `stdout` line-buffered even when it is a pipe, so that output appears when it is
    /// printed rather than at exit.
    public static func makeLineBuffered() {
        guard let file else { return }
        setvbuf(file, nil, _IOLBF, 0)
    }

    /// C `stdout`. Swift 6 forbids touching the mutable global `stdout` directly, so the
    /// `FILE *` is read from its symbol.
    static var file: UnsafeMutablePointer<FILE>? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "stdout") else { return nil }
        return symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee
    }

    /// Starts flushing C stdio on a thread of its own (`stdout` first, then every stream) and
    /// returns at once. A plugin's `print` that is blocked on a stalled reader holds the `stdout`
    /// lock, so the flush may never finish: the caller waits for it only as long as it chooses.
    static func flushInBackground() -> BackgroundFlush {
        let flush = BackgroundFlush()
        let failed = StartThread.detached("aiorun-flush") {
            if let file = StandardOutput.file { fflush(file) }
            fflush(nil)
            flush.finish()
        }
        // No thread: skip the flush rather than risk blocking the exit on a stream.
        if failed != nil { flush.finish() }
        return flush
    }
}

/// A flush running on its own thread, which the exit path waits for with a bound.
final class BackgroundFlush: @unchecked Sendable {
    // Why this is safe: `done` is read and written only with `mutex` held; `mutex` and
    // `condition` are heap-allocated once in `init` and, since the flushing thread may still
    // hold them when the waiter gives up, never freed (one small leak per process exit).
    private let mutex = PthreadMutex.make()
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let started = BoundedLogWriter.monotonicNanoseconds()
    private var done = false

    init() {
        condition = BoundedLogWriter.makeCondition()
    }

    /// Marks the flush finished and wakes the waiter.
    func finish() {
        pthread_mutex_lock(mutex)
        done = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until the flush has finished or `limit` has passed since it started; returns
    /// whether it finished.
    @discardableResult
    func wait(atMost limit: Duration) -> Bool {
        let until = started &+ BoundedLogWriter.nanoseconds(limit)
        var deadline = timespec(tv_sec: Int(until / 1_000_000_000), tv_nsec: Int(until % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !done {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return done
    }
}
