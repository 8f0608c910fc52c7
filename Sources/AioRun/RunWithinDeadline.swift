/// Runs `body` in its own task and waits for it at most until `deadline`.
///
/// Both the body's task and the waiter run on the ``ControlExecutor``, and the timer is a
/// ``ControlClock`` one, so the limit holds even when plugin code keeps every thread of the
/// cooperative pool busy; `body` must hand plugin code to other tasks. Returns `true` if the body
/// finished in time. On expiry the body's task is left running (the caller cancels or abandons
/// what it was waiting for; structured concurrency could not abandon it).
func runWithin(
    deadline: ContinuousClock.Instant,
    _ body: @escaping @Sendable () async -> Void
) async -> Bool {
    let gate = Handoff<Bool>()
    Task(executorPreference: ControlExecutor.shared) {
        await body()
        gate.deliver(.success(true))
    }
    let timer = Task(executorPreference: ControlExecutor.shared) {
        try? await ControlClock.sleep(until: deadline)
        gate.deliver(.success(false))
    }
    let finished = (try? await gate.wait()) ?? false
    timer.cancel()
    return finished
}
