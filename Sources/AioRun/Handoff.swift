/// A one-shot meeting point between a waiter and the work that produces its result.
///
/// Exactly one of `deliver` and `cancel` wins. The waiter's continuation is resumed once, whether
/// the result arrives before or after the waiter starts waiting. Used for shields (the caller may
/// leave while the work runs on), executor jobs, and deadline races.
final class Handoff<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, any Error>)
        case ready(Result<Value, any Error>)
        case cancelled
        case done
    }

    private let state = LockedValue<State>(.empty)

    /// Waits for the result. If `cancel()` runs (for example from a cancellation handler), the
    /// waiter gets `CancellationError` at once.
    func wait() async throws -> Value {
        try await withTaskCancellationHandler {
            try await waitIgnoringCancellation()
        } onCancel: {
            cancel()
        }
    }

    /// Waits for the result without a cancellation handler of its own: for callers that already
    /// have one that calls `cancel()`.
    func waitIgnoringCancellation() async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let early: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .empty:
                    state = .waiting(continuation)
                    return nil
                case .ready(let result):
                    state = .done
                    return result
                case .cancelled, .done, .waiting:
                    state = .done
                    return .failure(CancellationError())
                }
            }
            if let early { continuation.resume(with: early) }
        }
    }

    /// Hands over the result. Returns `false` when the waiter has already gone (cancelled), so the
    /// producer can report an error nobody will see.
    @discardableResult
    func deliver(_ result: Result<Value, any Error>) -> Bool {
        let action: (CheckedContinuation<Value, any Error>?, Bool) = state.withLock { state in
            switch state {
            case .empty:
                state = .ready(result)
                return (nil, true)
            case .waiting(let continuation):
                state = .done
                return (continuation, true)
            case .ready, .cancelled, .done:
                return (nil, false)
            }
        }
        action.0?.resume(with: result)
        return action.1
    }

    /// Releases the waiter with `CancellationError`, unless a result was already handed over.
    func cancel() {
        let continuation: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .empty:
                state = .cancelled
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .ready, .cancelled, .done:
                return nil
            }
        }
        continuation?.resume(throwing: CancellationError())
    }
}
