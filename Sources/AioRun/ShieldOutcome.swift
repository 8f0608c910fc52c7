/// The result of shielded work with a handle (``UnitScope/startShield(label:operation:)``), for
/// any number of waiters, at any time (README, "In-process use").
///
/// Unlike ``Handoff``, a waiter that is cancelled leaves alone: it gets `CancellationError` at
/// once, and the others, and later ones, still get the result.
final class ShieldOutcome<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
        /// Waiters cancelled before they started waiting.
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state = LockedValue(State())

    /// Hands the result to every waiter and keeps it for later ones. Returns whether any waiter
    /// was waiting for it.
    @discardableResult
    func deliver(_ result: Result<Value, any Error>) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            state.result = result
            state.cancelled = []
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
        return !waiters.isEmpty
    }

    /// Waits for the result; a cancelled caller gets `CancellationError` at once.
    func wait() async throws -> Value {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let early = state.withLock { state -> Result<Value, any Error>? in
                    if let result = state.result { return result }
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if state.result == nil { state.cancelled.insert(id) }
                return nil
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
