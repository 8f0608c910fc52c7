extension LifecycleManager {
    /// The manager's whole run, on its control thread, in the order of README "How shutdown
    /// proceeds": start every unit, wait for the first trigger, then stop the units one by one in
    /// reverse load order, each fully before the next, then the report and its exit code.
    ///
    /// Only the sequence is here; logging, the observer's calls and the SIGUSR1 progress are in
    /// the helpers (ShutdownBookkeeping.swift).
    func startAndShutDown(_ units: [ManagedUnit]) async -> ShutdownReport {
        start(units)
        let heartbeat = startHeartbeat()
        defer { heartbeat?.cancel() }

        // The trigger: the first SIGINT/SIGTERM, a plugin's `requestShutdown`, or an unhandled
        // error with `--stop-on-unhandled-errors`.
        let trigger = await latch.wait()
        let shutdown = beginShutdown(trigger)

        var reports: [UnitTeardownReport] = []
        for unit in shutdown.loadOrder.reversed() {
            let teardown = beginTeardown(of: unit)
            // Phases 1–4 share the unit's time limit, kept by a timer outside the cooperative pool.
            let inTime = await runWithin(deadline: teardown.deadline) {
                // 1. callbacks: `onShutdown` in registration order, while its work still runs;
                await teardown.phase(.callbacks) { await unit.runShutdownCallbacks() }
                // 2. cancel: `run()` and every tracked task, not the shields;
                await teardown.phase(.cancel) { await unit.cancelTasksOnOwnThread() }
                // 3. wait: for those tasks and every shield, even ones started during teardown;
                await teardown.phase(.wait) { await unit.waitForTasksAndShields() }
                // 4. drain: the executor pool refuses new jobs, finishes what it owes, joins;
                //    then the shields and late callbacks its last jobs started are waited for too.
                await teardown.phase(.drain) {
                    await unit.drainExecutor()
                    await unit.waitForTasksAndShields()
                }
            }
            // On expiry: name what still runs, cancel and abandon it, and move on.
            if !inTime { abandon(teardown) }
            // 5. `stopped plugin <name> in <time> [ok] (callbacks …, cancel …, wait …, drain …)`.
            reports.append(finish(teardown))
        }

        let exitCode = AioRunExitCode.afterShutdown(
            stoppedForUnhandledError: options.stopOnUnhandledErrors && sawUnhandledError.load(ordering: .relaxed),
            abandonedAny: reports.contains { $0.expiredIn != nil }
        )
        return finishShutdown(shutdown, reports: reports, exitCode: exitCode)
    }
}
