extension LifecycleManager {
    /// The manager's whole run, on its control thread, in the order of README "How shutdown
    /// proceeds": start the units in load order, each once the one before is ready, and keep
    /// them running (restarting failed ones within their budget) until the first trigger; then
    /// drain for `--drain-delay` after a signal; then stop the units one by one in reverse load
    /// order, each fully before the next; then the report and its exit code.
    ///
    /// Only the sequence is here: starting and supervising is in Supervision.swift; logging, the
    /// observer's calls and the SIGUSR1 progress are in ShutdownBookkeeping.swift.
    func startAndShutDown(_ units: [ManagedUnit]) async -> ShutdownReport {
        let heartbeat = startHeartbeat()
        defer { heartbeat?.cancel() }

        // Start-up, then running until the trigger: the first SIGINT/SIGTERM, a plugin's
        // `requestShutdown`, an unhandled error with `--stop-on-unhandled-errors`, a plugin that
        // failed to start, or one that spent its restart budget.
        let trigger = await startAndSupervise(units.map(\.slot))
        let shutdown = beginShutdown(trigger)

        // Drain delay: after a signal, everything keeps serving while load balancers catch up.
        await drainDelay(after: trigger)

        var reports: [UnitTeardownReport] = []
        for slot in shutdown.loadOrder.reversed() {
            var report = await tearDown(slot)
            report.restarts = slot.restarts
            reports.append(report)
        }

        let exitCode = AioRunExitCode.afterShutdown(
            trigger: trigger,
            stoppedForUnhandledError: options.stopOnUnhandledErrors && sawUnhandledError.load(ordering: .relaxed),
            abandonedAny: reports.contains { $0.expiredIn != nil } || abandonedInRestart.load(ordering: .relaxed)
        )
        return finishShutdown(shutdown, reports: reports, exitCode: exitCode)
    }

    /// One unit's teardown (README, "How shutdown proceeds"), for shutdown or before a restart:
    /// the four phases under its time limit, abandon on expiry, and the `stopped plugin` line.
    func tearDown(_ unit: UnitScope, purpose: TeardownPurpose) async -> UnitTeardownReport {
        let teardown = beginTeardown(of: unit, purpose: purpose)
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
        return finish(teardown)
    }
}
