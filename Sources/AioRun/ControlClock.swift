import Dispatch

/// Sleeps for the host's time limits without needing a thread of Swift's cooperative pool.
///
/// `Task.sleep` wakes a sleeping task by queueing a job on the cooperative pool, even for a task
/// that prefers the ``ControlExecutor``: the job only hops to the control thread once a pool
/// thread runs it. Plugin code can keep that from happening. Tasks that ignore cancellation in a
/// loop (`while true { try? await Task.sleep(…) }` spins without suspending once it is
/// cancelled) held both pool threads here, and a 1 s teardown limit never fired at all; 64k
/// tasks that keep waking queue thousands of jobs ahead of the timer's, and the limit fired late.
/// These timers fire on a private dispatch queue, which is not part of the cooperative pool
/// (dispatch gives it a thread of its own when it needs one), and resume the waiter directly on
/// its executor: the control thread. See README, "Failure modes".
public enum ControlClock {
    private static let queue = DispatchQueue(label: "aiorun.control-clock")

    /// Sleeps until `deadline` (at once if it has passed). Throws `CancellationError` as soon as
    /// the calling task is cancelled.
    public static func sleep(until deadline: ContinuousClock.Instant) async throws {
        let handoff = Handoff<Void>()
        let remaining = deadline - .now
        if remaining <= .zero {
            try Task.checkCancellation()
            return
        }
        // Whole nanoseconds, saturating (time limits go up to a year; 292 years fit).
        let (seconds, attoseconds) = remaining.components
        let nanoseconds =
            seconds < Int64.max / 1_000_000_000 ? seconds * 1_000_000_000 + attoseconds / 1_000_000_000 : Int64.max
        let item = DispatchWorkItem { handoff.deliver(.success(())) }
        // `asyncAfter` allows dispatch a leeway of a tenth of the interval; measured here it fires
        // at the deadline (a 5 s teardown limit ended at 5.001 s, 1 s ones at 1.000–1.004 s).
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds)), execute: item)
        do {
            try await handoff.wait()
        } catch {
            item.cancel()
            throw error
        }
    }

    /// Sleeps for `duration`; see ``sleep(until:)``.
    public static func sleep(for duration: Duration) async throws {
        try await sleep(until: .now + duration)
    }
}
