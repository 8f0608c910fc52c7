import Logging

/// A shutdown in progress: what triggered it, when, and the units in load order.
struct ShutdownInProgress: Sendable {
    /// The first trigger.
    let trigger: ShutdownTrigger
    /// When the trigger was taken up.
    let started: ContinuousClock.Instant
    /// Every registered unit, in load order.
    let loadOrder: [UnitSlot]
}

/// Why a unit is torn down: the host's shutdown, or a restart after a failure (README, "Restart
/// on failure"). A restart's teardown is not part of the shutdown's progress or the
/// supervisor's stop notifications.
enum TeardownPurpose: Sendable {
    case shutdown
    case restart
}

/// The steps of ``LifecycleManager/startAndShutDown(_:)`` besides the phases themselves: logging,
/// the observer's calls, the SIGUSR1 progress, time-limit bookkeeping (README, "How shutdown
/// proceeds").
extension LifecycleManager {
    /// How often a long teardown says what it is still waiting for.
    static let progressInterval: Duration = .seconds(5)

    /// The observer's heartbeat, on the control thread: it stops beating if that thread stalls.
    func startHeartbeat() -> Task<Void, Never>? {
        guard let heartbeat = options.observer.heartbeat else { return nil }
        return Task(executorPreference: ControlExecutor.shared) {
            while !Task.isCancelled {
                heartbeat.beat()
                try? await ControlClock.sleep(for: heartbeat.interval)
            }
        }
    }

    /// The trigger fired: checks the signal dispositions (a second SIGINT/SIGTERM must still force
    /// the exit), marks every unit draining, records the start for SIGUSR1, logs it and tells
    /// the observer.
    func beginShutdown(_ trigger: ShutdownTrigger) -> ShutdownInProgress {
        let started = ContinuousClock.now
        checkSignalDispositions()
        let loadOrder = units.withLock { $0 }
        for slot in loadOrder { slot.live?.markDraining() }
        progress.withLock { $0.shutdownStarted = (started, "\(trigger)") }
        logger.log(
            level: options.routine(.notice),
            "shutdown started by \(trigger): stopping \(loadOrder.count) plugins in reverse load order"
        )
        options.observer.shutdownStarted(trigger)
        return ShutdownInProgress(trigger: trigger, started: started, loadOrder: loadOrder)
    }

    /// `--drain-delay` after a signal (README, "Drain delay"): every plugin keeps serving (and
    /// reads `isDraining` as true) while load balancers stop sending traffic; a second signal
    /// still forces the exit.
    func drainDelay(after trigger: ShutdownTrigger) async {
        guard case .signal = trigger, options.drainDelay > .zero else { return }
        let count = units.withLock { $0.count }
        logger.notice("draining for \(options.drainDelay.seconds) before stopping \(count) plugins")
        options.observer.draining(options.drainDelay)
        try? await ControlClock.sleep(for: options.drainDelay)
    }

    /// A unit's teardown at shutdown, whatever its state: the live instance is torn down; a
    /// failed one already being torn down for a restart is waited for; one waiting to restart is
    /// not made again (its last teardown is its report).
    func tearDown(_ slot: UnitSlot) async -> UnitTeardownReport {
        switch slot.status {
        case .created(let unit), .starting(let unit, _), .ready(let unit):
            return await tearDown(unit, purpose: .shutdown)
        case .restarting(_, let teardown):
            return await teardown.value
        case .waitingToRestart(let last):
            return last
        }
    }

    /// A unit's teardown begins: for a shutdown, recorded for SIGUSR1 and told to the observer;
    /// logged every ``progressInterval`` while it lasts.
    func beginTeardown(of unit: UnitScope, purpose: TeardownPurpose) -> UnitTeardown {
        if purpose == .shutdown {
            progress.withLock { $0.stopping = unit.name }
            options.observer.teardownStarted(unit.name, unit.shutdownTimeout)
        }
        let record = TeardownProgress(name: unit.name)
        let started = ContinuousClock.now
        return UnitTeardown(
            unit: unit,
            purpose: purpose,
            started: started,
            record: record,
            progressLog: logProgress(of: unit, progress: record, since: started)
        )
    }

    /// The unit's time limit expired: logs everything still running, then cancels it and abandons
    /// its pool (``UnitScope/abandon()``).
    func abandon(_ teardown: UnitTeardown) {
        let unit = teardown.unit
        let abandoned = unit.stillRunningSummary()
        let phase = teardown.record.expire(abandoning: abandoned)
        unit.abandon()
        if teardown.purpose == .restart { abandonedInRestart.store(true, ordering: .relaxed) }
        logger.error(
            "time limit of \(unit.shutdownTimeout.seconds) expired during \(phase.rawValue); abandoning: \(abandoned)",
            metadata: ["plugin": "\(unit.name)"]
        )
    }

    /// The unit's teardown ended: marks it stopped (later starts are refused), logs `stopped
    /// plugin …`, and records it for SIGUSR1 and the observer. Returns its report.
    func finish(_ teardown: UnitTeardown) -> UnitTeardownReport {
        let unit = teardown.unit
        unit.markStopped()
        var report = unit.withRemoteTeardown(teardown.record.report)
        report.total = .now - teardown.started
        logger.log(
            level: options.routine(.notice),
            "stopped plugin \(unit.name) in \(report.total.seconds) [\(report.outcome)] (\(report.phaseSummary))",
            metadata: ["plugin": "\(unit.name)"]
        )
        teardown.progressLog.cancel()
        if teardown.purpose == .shutdown {
            progress.withLock { _ = $0.stopped.insert(unit.name) }
            options.observer.teardownFinished(report)
        }
        return report
    }

    /// The last unit stopped: logs the shutdown report and ends the periodic signal check.
    func finishShutdown(
        _ shutdown: ShutdownInProgress,
        reports: [UnitTeardownReport],
        exitCode: Int32
    ) -> ShutdownReport {
        progress.withLock { $0.stopping = nil }
        let report = ShutdownReport(
            trigger: shutdown.trigger,
            units: reports,
            exitCode: exitCode,
            total: .now - shutdown.started
        )
        if !options.reportsToHost { logger.notice("\(report.summary)") }
        finished.store(true, ordering: .relaxed)
        return report
    }

    /// Every ``progressInterval`` while `unit`'s teardown lasts, logs its phase, its elapsed time
    /// against its limit and what it is still waiting for.
    func logProgress(
        of unit: UnitScope,
        progress: TeardownProgress,
        since started: ContinuousClock.Instant
    ) -> Task<Void, Never> {
        Task(executorPreference: ControlExecutor.shared) { [logger] in
            while true {
                do { try await ControlClock.sleep(for: Self.progressInterval) } catch { return }
                let waiting = unit.stillRunningSummary()
                let phase = progress.currentPhase?.rawValue ?? "?"
                let elapsed = "\((.now - started).seconds) of \(unit.shutdownTimeout.seconds)"
                logger.info(
                    "still stopping plugin \(unit.name): \(phase) phase, \(elapsed); waiting for \(waiting)",
                    metadata: ["plugin": "\(unit.name)"]
                )
            }
        }
    }
}
