#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex; the runtime's only lock.
///
/// Not `Synchronization.Mutex`: on Linux that lock is built on futex calls that ThreadSanitizer
/// cannot see, so `swift test --sanitize=thread` reports false races on every access (checked
/// here with a two-thread counter: correct count, yet "Swift access race" reports).
/// pthread mutexes are intercepted by ThreadSanitizer, so real races stay visible.
final class LockedValue<Value>: @unchecked Sendable {
    // Why this is safe: `value` is read and written only inside `withLock`, between
    // `pthread_mutex_lock` and `pthread_mutex_unlock` on `mutex`. The mutex lives in its own heap
    // allocation, made once in `init` and freed in `deinit`, so it never moves while in use.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
