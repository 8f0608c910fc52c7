@_spi(AioRunRuntime) import AioRunPluginAPI

/// One unit's place in load order, across restarts (README, "Restart on failure"): its settings,
/// how to make a fresh instance, the instance that is live now and its restart history. The
/// manager's list of units holds slots, so a restart replaces the instance and keeps the order.
final class UnitSlot: Sendable {
    /// Where the slot's instance is in its life.
    enum Status: Sendable {
        /// Created, its `run()` not started.
        case created(UnitScope)
        /// Its `run()` started at `since`; not ready yet.
        case starting(UnitScope, since: ContinuousClock.Instant)
        /// Ready.
        case ready(UnitScope)
        /// The failed instance is being torn down; the task ends with its report.
        case restarting(UnitScope, teardown: Task<UnitTeardownReport, Never>)
        /// Torn down after a failure, waiting `delay` before a fresh instance is made.
        case waitingToRestart(lastTeardown: UnitTeardownReport)
    }

    /// The settings of every instance of this slot, with the manager's defaults filled in.
    struct Settings: Sendable {
        let executorWorkers: Int
        let shutdownTimeout: Duration
        let startupTimeout: Duration
        let restart: RestartPolicy
        let readiness: PluginReadiness
    }

    private struct State {
        var status: Status
        var main: (@Sendable () async throws -> Void)?
        /// When each restart happened, for the budget's sliding window.
        var restartTimes: [ContinuousClock.Instant] = []
        var restarts = 0
    }

    /// The unit's name (plugin name or alias).
    let name: String
    /// Its config, handed to every instance's context.
    let config: PluginConfig
    /// Its settings.
    let settings: Settings
    /// Makes a fresh instance's main from its context, for restarts; `nil` when the unit
    /// cannot be restarted (the `run {}` program, units whose caller passed a main).
    let make: (@Sendable (PluginContext) throws -> @Sendable () async throws -> Void)?
    private let state: LockedValue<State>

    init(
        name: String,
        config: PluginConfig,
        settings: Settings,
        make: (@Sendable (PluginContext) throws -> @Sendable () async throws -> Void)?,
        first: UnitScope
    ) {
        self.name = name
        self.config = config
        self.settings = settings
        self.make = make
        state = LockedValue(State(status: .created(first)))
    }

    /// The instance's main, bound once it is known.
    var main: (@Sendable () async throws -> Void)? {
        get { state.withLock { $0.main } }
        set { state.withLock { $0.main = newValue } }
    }

    /// Where the slot is now.
    var status: Status {
        get { state.withLock { $0.status } }
        set { state.withLock { $0.status = newValue } }
    }

    /// The live instance, if one exists (not while a failed one is torn down or waits to restart).
    var live: UnitScope? {
        switch status {
        case .created(let unit), .starting(let unit, _), .ready(let unit): return unit
        case .restarting, .waitingToRestart: return nil
        }
    }

    /// Whether `unit` is this slot's live instance (events of an instance already replaced are
    /// ignored).
    func isLive(_ unit: UnitScope) -> Bool { live === unit }

    /// Where the slot is, for the SIGUSR1 status report (README, "Readiness and ordered start").
    var lifeStage: String {
        switch status {
        case .created: return "not started"
        case .starting: return "starting, not ready yet"
        case .ready: return "running"
        case .restarting: return "restarting: its failed instance is being torn down"
        case .waitingToRestart: return "waiting to restart"
        }
    }

    /// How many restarts this slot has had.
    var restarts: Int { state.withLock { $0.restarts } }

    /// Counts a restart now if the budget allows one: returns how many restarts fell within the
    /// window before this one, or `nil` when the budget is spent.
    func takeRestart(now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            let policy = settings.restart
            state.restartTimes.removeAll { now - $0 > policy.window }
            guard state.restartTimes.count < policy.maxRestarts else { return nil }
            let recent = state.restartTimes.count
            state.restartTimes.append(now)
            state.restarts += 1
            return recent
        }
    }

    /// Everything still running in the live instance, or in the one being torn down.
    func stillRunningSummary() -> WorkSummary {
        switch status {
        case .created(let unit), .starting(let unit, _), .ready(let unit), .restarting(let unit, _):
            return unit.stillRunningSummary()
        case .waitingToRestart:
            return WorkSummary()
        }
    }
}
