/// Where an executor pool is in its life, in swift-nio's manner (`NIOThreadPool.State`): one
/// enum, so that "closed" and "stopping" cannot disagree, and the continuations waiting for a
/// step live in the state they wait in. Open → draining → stopping, or straight to stopping by
/// `abandon()` after a time limit; never back.
enum PoolLifecycle {
    /// Someone waiting for the pool to reach a step (`drain()`, on its way to return).
    typealias Waiter = CheckedContinuation<Void, Never>

    /// Takes jobs. No waiter can exist yet.
    case open
    /// `drain()` has begun (README, "How shutdown proceeds", phase 4): new jobs are refused,
    /// queued jobs of live callers and running jobs finish. `idleWaiters` resume once nothing is
    /// queued or running. Idle workers keep waiting for work until the pool stops.
    case draining(idleWaiters: [Waiter])
    /// Workers leave: each exits as soon as it finds nothing to run. New jobs are refused and
    /// nothing is queued (a drain got here idle; `abandon()` withdrew the queue). `idleWaiters`
    /// (a drain that began before or after `abandon()`) resume once no job runs; `exitWaiters`
    /// once the last worker has left its loop.
    case stopping(idleWaiters: [Waiter], exitWaiters: [Waiter])

    /// Whether new jobs are taken.
    var isOpen: Bool {
        if case .open = self { return true }
        return false
    }

    /// Whether workers leave once they find nothing to run.
    var isStopping: Bool {
        if case .stopping = self { return true }
        return false
    }

    /// Closes the pool to new jobs (if still open); `waiter`, if any, waits for it to be idle.
    mutating func close(idleWaiter waiter: Waiter?) {
        let extra = waiter.map { [$0] } ?? []
        switch self {
        case .open:
            self = .draining(idleWaiters: extra)
        case .draining(let idle):
            self = .draining(idleWaiters: idle + extra)
        case .stopping(let idle, let exit):
            self = .stopping(idleWaiters: idle + extra, exitWaiters: exit)
        }
    }

    /// Tells workers to leave once they find nothing to run; `waiter`, if any, waits for the
    /// last to leave. Closes the pool if still open.
    mutating func stop(exitWaiter waiter: Waiter?) {
        let extra = waiter.map { [$0] } ?? []
        switch self {
        case .open:
            self = .stopping(idleWaiters: [], exitWaiters: extra)
        case .draining(let idle):
            self = .stopping(idleWaiters: idle, exitWaiters: extra)
        case .stopping(let idle, let exit):
            self = .stopping(idleWaiters: idle, exitWaiters: exit + extra)
        }
    }

    /// The pool is idle: takes the waiters for that, to resume once the lock is released.
    mutating func takeIdleWaiters() -> [Waiter] {
        switch self {
        case .open:
            return []
        case .draining(let idle):
            self = .draining(idleWaiters: [])
            return idle
        case .stopping(let idle, let exit):
            self = .stopping(idleWaiters: [], exitWaiters: exit)
            return idle
        }
    }

    /// The last worker has left: takes the waiters for that.
    mutating func takeExitWaiters() -> [Waiter] {
        guard case .stopping(let idle, let exit) = self else { return [] }
        self = .stopping(idleWaiters: idle, exitWaiters: [])
        return exit
    }
}
