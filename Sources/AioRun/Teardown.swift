import Logging

extension LifecycleManager {
    /// One unit's teardown, DESIGN §4, fully before the next unit's. Phases 1–4 share the unit's
    /// time limit; on expiry whatever still runs is named, cancelled and abandoned.
    func tearDown(_ unit: UnitScope) async -> UnitTeardownReport {
        let meta: Logger.Metadata = ["plugin": "\(unit.name)"]
        let progress = TeardownProgress(name: unit.name)
        let started = ContinuousClock.now
        let progressLog = logProgress(of: unit, progress: progress, since: started)
        defer { progressLog.cancel() }
        // The limit's timer fires outside the cooperative pool (see ControlClock): tasks that
        // ignore cancellation can keep every pool thread busy.
        let inTime = await runWithin(deadline: started + unit.shutdownTimeout) {
            await progress.phase(.callbacks) { await unit.runShutdownCallbacks() }
            // Cancellation handlers are plugin code and run on the cancelling thread.
            await progress.phase(.cancel) { await OwnThread.run("aiorun-cancel") { unit.cancelTasks() } }
            await progress.phase(.wait) { await unit.waitForTasksAndShields() }
            await progress.phase(.drain) { await unit.drainExecutor() }
        }
        var report = progress.finish(expired: !inTime)
        if !inTime {
            report.abandoned = unit.stillRunningSummary()
            OwnThread.start("aiorun-cancel") { unit.cancelTasks() }
            unit.pool.abandon()
            let phase = report.expiredIn?.rawValue ?? "?"
            logger.error(
                "time limit of \(unit.shutdownTimeout.seconds) expired during \(phase); abandoning: \(report.abandoned)",
                metadata: meta)
        }
        unit.markStopped()
        report.total = .now - started
        logger.notice("stopped plugin \(unit.name) in \(report.total.seconds) [\(report.outcome)] (\(report.phaseSummary))", metadata: meta)
        return report
    }
}

extension LifecycleManager {
    /// How often a long teardown says what it is still waiting for.
    static let progressInterval: Duration = .seconds(5)

    /// Every ``progressInterval`` while `unit`'s teardown lasts, logs its phase, its elapsed time
    /// against its limit and what it is still waiting for.
    func logProgress(of unit: UnitScope, progress: TeardownProgress, since started: ContinuousClock.Instant) -> Task<Void, Never> {
        Task(executorPreference: ControlExecutor.shared) { [logger] in
            while true {
                do { try await ControlClock.sleep(for: Self.progressInterval) } catch { return }
                let waiting = unit.stillRunningSummary()
                logger.info(
                    "still stopping plugin \(unit.name): \(progress.currentPhase?.rawValue ?? "?") phase, \((.now - started).seconds) of \(unit.shutdownTimeout.seconds); waiting for \(waiting)",
                    metadata: ["plugin": "\(unit.name)"])
            }
        }
    }
}

/// Records when each teardown phase starts and ends, readable from outside the teardown task.
final class TeardownProgress: Sendable {
    private struct State {
        var report: UnitTeardownReport
        var current: (phase: UnitTeardownReport.Phase, since: ContinuousClock.Instant)?
    }

    private let state: LockedValue<State>

    init(name: String) {
        state = LockedValue(State(report: UnitTeardownReport(name: name)))
    }

    /// Runs one phase and records its time.
    func phase(_ phase: UnitTeardownReport.Phase, _ body: () async -> Void) async {
        state.withLock { $0.current = (phase, .now) }
        await body()
        state.withLock { state in
            if let current = state.current {
                state.report.phaseTimes[current.phase] = .now - current.since
            }
            state.current = nil
        }
    }

    /// The phase in progress, if any.
    var currentPhase: UnitTeardownReport.Phase? { state.withLock { $0.current?.phase } }

    /// The report so far. With `expired`, the phase in progress is marked as where time ran out.
    func finish(expired: Bool) -> UnitTeardownReport {
        state.withLock { state in
            var report = state.report
            if expired, let current = state.current {
                report.phaseTimes[current.phase] = .now - current.since
                report.expiredIn = current.phase
            } else if expired {
                report.expiredIn = .callbacks
            }
            return report
        }
    }
}
