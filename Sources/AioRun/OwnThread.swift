/// Runs synchronous work that may call into plugin code on a thread of its own: neither the
/// control thread (which must stay free for signals and time limits) nor the cooperative pool
/// (which a misbehaving plugin may have blocked).
///
/// Cancelling a task runs its cancellation handlers at once, on the cancelling thread, so the
/// teardown's phase 2 goes through here.
package enum OwnThread {
    /// Runs `body` on a new detached thread and returns when it has finished.
    static func run(_ name: String, _ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            start(name) {
                body()
                continuation.resume()
            }
        }
    }

    /// Starts `body` on a new detached thread and does not wait for it. If no thread can be
    /// started, runs `body` on the calling thread rather than dropping it.
    package static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        if StartThread.detached(name, body) != nil { body() }
    }
}
