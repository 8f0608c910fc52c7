/// One unit's teardown while it runs: the unit, when it started, its phase record and the task
/// that logs its progress (see ``LifecycleManager/beginTeardown(of:)``).
struct UnitTeardown: Sendable {
    /// The unit being torn down.
    let unit: UnitScope
    /// For the shutdown, or before a restart.
    let purpose: TeardownPurpose
    /// When its teardown started.
    let started: ContinuousClock.Instant
    /// Its phase times, readable while the teardown runs.
    let record: TeardownProgress
    /// Logs what it waits for every ``LifecycleManager/progressInterval``; cancelled when it ends.
    let progressLog: Task<Void, Never>

    /// The end of the unit's time limit for phases 1–4.
    var deadline: ContinuousClock.Instant { started + unit.shutdownTimeout }

    /// Runs one phase and records its time.
    func phase(_ phase: UnitTeardownReport.Phase, _ body: () async -> Void) async {
        await record.phase(phase, body)
    }
}

/// Records when each teardown phase starts and ends, readable from outside the teardown task.
final class TeardownProgress: Sendable {
    private struct State {
        var report: UnitTeardownReport
        var current: (phase: UnitTeardownReport.Phase, since: ContinuousClock.Instant)?
        /// The report as it was when the time limit expired. The abandoned phases may still run
        /// on; what they do later is not recorded.
        var expired: UnitTeardownReport?
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

    /// The time limit expired: the phase in progress is marked as where time ran out (phase 1 if
    /// none is), and the report is kept as it is now, with `abandoned`. Returns that phase.
    func expire(abandoning abandoned: WorkSummary) -> UnitTeardownReport.Phase {
        state.withLock { state in
            var report = state.report
            if let current = state.current {
                report.phaseTimes[current.phase] = .now - current.since
                report.expiredIn = current.phase
            } else {
                report.expiredIn = .callbacks
            }
            report.abandoned = abandoned
            state.expired = report
            return report.expiredIn ?? .callbacks
        }
    }

    /// The report: as it was at expiry, if the time limit expired.
    var report: UnitTeardownReport {
        state.withLock { $0.expired ?? $0.report }
    }
}
