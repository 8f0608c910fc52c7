import Logging

/// A shutdown in progress: what triggered it, when, and the units in load order.
struct ShutdownInProgress: Sendable {
    /// The first trigger.
    let trigger: ShutdownTrigger
    /// When the trigger was taken up.
    let started: ContinuousClock.Instant
    /// Every registered unit, in load order.
    let loadOrder: [UnitScope]
}

/// The steps of ``LifecycleManager/startAndShutDown(_:)`` besides the phases themselves: logging,
/// the observer's calls, the SIGUSR1 progress, time-limit bookkeeping (README, "How shutdown
/// proceeds").
extension LifecycleManager {
    /// How often a long teardown says what it is still waiting for.
    static let progressInterval: Duration = .seconds(5)

    /// Starts each unit's main in load order, all concurrently, and logs `ready: N plugins
    /// running`; starts none if a shutdown was requested already (for example while loading).
    func start(_ units: [ManagedUnit]) {
        if let early = latch.fired {
            logger.warning("shutdown requested before any plugin started (\(early)); starting none")
            return
        }
        for unit in units {
            guard let main = unit.main else { continue }
            unit.scope.spawn(label: "run()", fromControlThread: true, operation: main)
        }
        logger.notice("ready: \(units.count) plugins running")
        options.observer.ready(units.count)
    }

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
    /// the exit), records the start for SIGUSR1, logs it and tells the observer.
    func beginShutdown(_ trigger: ShutdownTrigger) -> ShutdownInProgress {
        let started = ContinuousClock.now
        checkSignalDispositions()
        let loadOrder = units.withLock { $0 }
        progress.withLock { $0.shutdownStarted = (started, "\(trigger)") }
        logger.notice("shutdown started by \(trigger): stopping \(loadOrder.count) plugins in reverse load order")
        options.observer.shutdownStarted(trigger)
        return ShutdownInProgress(trigger: trigger, started: started, loadOrder: loadOrder)
    }

    /// A unit's teardown begins: recorded for SIGUSR1, told to the observer, and logged every
    /// ``progressInterval`` while it lasts.
    func beginTeardown(of unit: UnitScope) -> UnitTeardown {
        progress.withLock { $0.stopping = unit.name }
        options.observer.teardownStarted(unit.name, unit.shutdownTimeout)
        let record = TeardownProgress(name: unit.name)
        let started = ContinuousClock.now
        return UnitTeardown(
            unit: unit,
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
        var report = teardown.record.report
        report.total = .now - teardown.started
        logger.notice(
            "stopped plugin \(unit.name) in \(report.total.seconds) [\(report.outcome)] (\(report.phaseSummary))",
            metadata: ["plugin": "\(unit.name)"]
        )
        teardown.progressLog.cancel()
        progress.withLock { _ = $0.stopped.insert(unit.name) }
        options.observer.teardownFinished(report)
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
        logger.notice("\(report.summary)")
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
