/// What the manager's control loop reacts to while plugins start and run (README, "Readiness and
/// ordered start", "Restart on failure").
enum SupervisorEvent: Sendable {
    /// The first shutdown trigger fired.
    case trigger(ShutdownTrigger)
    /// A unit reported that it is ready.
    case ready(UnitScope)
    /// A unit failed while running: `what` failed (`task "run()"`, `reportFailure`) with `error`;
    /// `wasReady` says whether it had reported readiness by then.
    case failed(UnitScope, what: String, error: any Error, wasReady: Bool)
    /// A unit's startup time limit expired.
    case startupExpired(UnitScope)
    /// A failed instance has been torn down; its slot waits `delay` before making a fresh one.
    case tornDownForRestart(UnitSlot, UnitTeardownReport, delay: Duration)
    /// A slot's wait before its restart is over.
    case restartDue(UnitSlot)
    /// A restarted instance's initializer, run on a thread of its own, returned its main or threw.
    case instanceMade(UnitScope, Result<@Sendable () async throws -> Void, any Error>)
}

/// The control loop's queue of events: any thread posts, the loop takes them one at a time, in
/// order. Once closed (the shutdown has begun), posting is refused and the poster handles the
/// event itself, so nothing posted late is lost.
final class SupervisorMailbox: Sendable {
    private struct State {
        var queue: [SupervisorEvent] = []
        var waiter: CheckedContinuation<SupervisorEvent, Never>?
        var closed = false
    }

    private let state = LockedValue(State())

    /// Queues `event`, or hands it straight to the waiting loop. Returns `false` once the mailbox
    /// is closed.
    @discardableResult
    func post(_ event: SupervisorEvent) -> Bool {
        let outcome = state.withLock {
            state -> (accepted: Bool, waiter: CheckedContinuation<SupervisorEvent, Never>?) in
            guard !state.closed else { return (false, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            state.queue.append(event)
            return (true, nil)
        }
        outcome.waiter?.resume(returning: event)
        return outcome.accepted
    }

    /// The next event, waiting for one if none is queued. One caller at a time.
    func next() async -> SupervisorEvent {
        await withCheckedContinuation { continuation in
            let queued = state.withLock { state -> SupervisorEvent? in
                guard state.queue.isEmpty else { return state.queue.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let queued { continuation.resume(returning: queued) }
        }
    }

    /// Refuses every later post and returns the events not taken yet.
    func close() -> [SupervisorEvent] {
        state.withLock { state in
            state.closed = true
            defer { state.queue = [] }
            return state.queue
        }
    }
}
