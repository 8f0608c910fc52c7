#if canImport(Glibc)
import Glibc
#endif

/// Starts the runtime's own pthreads: the one place that calls `pthread_create`.
///
/// Every thread the runtime starts (executor pool workers, the control thread, the log writer,
/// threads of their own for plugin code) is a plain pthread, outside Swift's cooperative pool,
/// named before its body runs. A failed start is returned, never trapped on: each caller decides
/// what a missing thread means for it.
enum StartThread {
    /// Starts `body` on a new detached thread named `name` (cut to 15 bytes by the kernel).
    /// Returns `nil` once the thread runs, or the error when none could be started: then `body`
    /// is released without having run.
    @discardableResult
    static func detached(_ name: String, _ body: @escaping @Sendable () -> Void) -> ThreadStartError? {
        switch start(name, body) {
        case .success(let thread):
            pthread_detach(thread)
            return nil
        case .failure(let error):
            return error
        }
    }

    /// Starts `body` on a new joinable thread named `name`; whoever owns it must join it with
    /// `pthread_join`. On failure `body` is released without having run.
    static func joinable(
        _ name: String,
        _ body: @escaping @Sendable () -> Void
    ) -> Result<pthread_t, ThreadStartError> {
        start(name, body)
    }

    private static func start(
        _ name: String,
        _ body: @escaping @Sendable () -> Void
    ) -> Result<pthread_t, ThreadStartError> {
        // The new thread takes over this retain; if no thread starts, it is given back here.
        let box = Unmanaged.passRetained(ThreadBody(name: name, body: body))
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            nil,
            { raw in
                // `raw` is the `box` passed below, never nil: pthread_create hands it over as is.
                guard let raw else { return nil }
                let work = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
                ThreadName.set(work.name)
                work.body()
                return nil
            },
            box.toOpaque()
        )
        guard rc == 0 else {
            box.release()
            return .failure(ThreadStartError(code: rc))
        }
        return .success(thread)
    }
}

/// What a new thread runs, carried through `pthread_create`'s single pointer argument.
private final class ThreadBody: Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// `pthread_create` failed (usually `EAGAIN`: a thread or memory limit was reached).
struct ThreadStartError: Error, CustomStringConvertible {
    /// The error number `pthread_create` returned.
    let code: Int32
    var description: String { "pthread_create failed with error \(code)" }
}
