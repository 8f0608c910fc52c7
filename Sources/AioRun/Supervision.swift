import Logging

/// A unit that did not become ready within its startup time limit.
struct NotReadyInTime: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "not ready within \(limit.seconds)" }
}

/// The control loop between start-up and the first shutdown trigger (README, "Readiness and
/// ordered start", "Restart on failure"): it starts the units, in load order each after the one
/// before is ready (or all at once with `--concurrent-start`), announces readiness once every
/// unit is ready, and restarts failed units within their budget. It runs on the control thread
/// and takes one ``SupervisorEvent`` at a time, so its state needs no lock.
struct Supervision {
    let manager: LifecycleManager
    /// The units to start, in load order; they start from the front.
    var toStart: ArraySlice<UnitSlot>
    /// Every unit this run starts, in load order.
    let all: [UnitSlot]
    /// The unit ordered start waits for, if any.
    var awaited: UnitSlot?
    /// The startup time limit's timer of each unit not ready yet.
    var startupTimers: [ObjectIdentifier: Task<Void, Never>] = [:]
    /// Whether `ready: N plugins running` has been announced.
    var announced = false
    /// When each restarted instance's creation began, until it is started.
    var madeSince: [ObjectIdentifier: ContinuousClock.Instant] = [:]

    var logger: Logger { manager.logger }
    var options: LifecycleOptions { manager.options }

    /// Starts units until one must be waited for (ordered start) or all are started.
    mutating func startMore() {
        while awaited == nil, let slot = toStart.popFirst() {
            guard case .created(let unit) = slot.status else {
                // Failed before its start (from its initializer) and being restarted: the fresh
                // instance starts itself; ordered start waits for it like for any other.
                if !options.concurrentStart { awaited = slot }
                continue
            }
            guard let main = slot.main else {
                // Nothing to run (a unit registered without a main): nothing to wait for.
                slot.status = .ready(unit)
                continue
            }
            start(unit, of: slot, main: main)
            // Not ready at its start: waited for, even if its `run()` has reported ready on
            // another thread by now (that event comes in order, behind any failure before it).
            if case .starting = slot.status, !options.concurrentStart { awaited = slot }
        }
    }

    /// Starts `unit`'s `run()`. A unit ready at start is ready at once; for one that reports
    /// readiness, its startup time limit runs from `since` (a restarted instance's limit covers
    /// its initializer too).
    mutating func start(
        _ unit: UnitScope,
        of slot: UnitSlot,
        main: @escaping @Sendable () async throws -> Void,
        since started: ContinuousClock.Instant = .now
    ) {
        slot.status = .starting(unit, since: started)
        // Ready at start: ready before its `run()` can look.
        if slot.settings.readiness == .atStart { unit.markReady() }
        // Ready at start, or already reported (from its initializer, say: that event found the
        // unit not started yet and was dropped). Read before `run()` starts: a readiness it
        // reports from now on comes as an event, in order behind a failure it reported first
        // (read after, it overtook that failure and started the next unit).
        let readyBeforeStart = unit.isReady
        unit.startMain(main)
        if readyBeforeStart {
            becameReady(unit, of: slot, since: started)
            return
        }
        startTimer(for: unit, of: slot, since: started)
    }

    /// Starts `unit`'s startup time limit from `started`, unless it runs already.
    private mutating func startTimer(for unit: UnitScope, of slot: UnitSlot, since started: ContinuousClock.Instant) {
        guard startupTimers[ObjectIdentifier(unit)] == nil else { return }
        let limit = slot.settings.startupTimeout
        options.observer.waitingForReady(slot.name, limit)
        startupTimers[ObjectIdentifier(unit)] = Task(executorPreference: ControlExecutor.shared) {
            [mailbox = manager.mailbox] in
            do { try await ControlClock.sleep(until: started + limit) } catch { return }
            mailbox.post(.startupExpired(unit))
        }
    }

    /// `unit` is ready: logged, its timer stopped; ordered start moves on.
    mutating func becameReady(_ unit: UnitScope, of slot: UnitSlot, since started: ContinuousClock.Instant) {
        startupTimers.removeValue(forKey: ObjectIdentifier(unit))?.cancel()
        slot.status = .ready(unit)
        let restarts = slot.restarts
        let suffix = restarts == 0 ? "" : " (restart \(restarts))"
        logger.log(
            level: options.routine(.info),
            "plugin \(slot.name) ready in \((.now - started).seconds)\(suffix)",
            metadata: ["plugin": "\(slot.name)"]
        )
        if announced { options.observer.ready(all.count) }
        if awaited === slot { awaited = nil }
    }

    /// Announces readiness once every unit has started and is ready.
    mutating func announceIfAllReady() {
        guard !announced, toStart.isEmpty, awaited == nil else { return }
        for slot in all {
            guard case .ready = slot.status else { return }
        }
        announced = true
        logger.log(level: options.routine(.notice), "ready: \(all.count) plugins running")
        options.observer.ready(all.count)
    }

    /// Takes one event.
    mutating func handle(_ event: SupervisorEvent) {
        switch event {
        case .trigger:
            break
        case .ready(let unit):
            guard let slot = slot(of: unit), case .starting(_, let since) = slot.status else { return }
            becameReady(unit, of: slot, since: since)
        case .failed(let unit, let what, let error, let wasReady):
            guard let slot = slot(of: unit) else {
                // An instance already replaced: nobody judges it any more.
                manager.reportUnhandled(plugin: unit.name, what: what, error: error)
                return
            }
            let reason =
                error is any UnitLoss
                ? "\(error)" : what == "reportFailure" ? "reported failure: \(error)" : "run() threw: \(error)"
            failed(unit, of: slot, what: what, error: error, reason: reason, wasReady: wasReady)
        case .startupExpired(let unit):
            guard let slot = slot(of: unit) else { return }
            switch slot.status {
            case .created, .starting:
                let error = NotReadyInTime(limit: slot.settings.startupTimeout)
                failed(unit, of: slot, what: "startup", error: error, reason: "\(error)")
            default:
                return
            }
        case .tornDownForRestart(let slot, let report, let delay):
            slot.status = .waitingToRestart(lastTeardown: report)
            Task(executorPreference: ControlExecutor.shared) { [mailbox = manager.mailbox] in
                try? await ControlClock.sleep(for: delay)
                mailbox.post(.restartDue(slot))
            }
        case .restartDue(let slot):
            restart(slot)
        case .instanceMade(let unit, let made):
            guard let slot = slot(of: unit), case .created = slot.status else { return }
            switch made {
            case .success(let main):
                manager.checkSignalDispositions(blame: slot.name)
                slot.main = main
                start(unit, of: slot, main: main, since: madeSince[ObjectIdentifier(unit)] ?? .now)
            case .failure(let error):
                failed(unit, of: slot, what: "create", error: error, reason: "its initializer threw: \(error)")
            }
            madeSince.removeValue(forKey: ObjectIdentifier(unit))
        }
    }

    /// The slot whose live instance `unit` is, if it still is.
    private func slot(of unit: UnitScope) -> UnitSlot? {
        all.first { $0.isLive(unit) }
    }

    /// A live unit failed: restart it within its budget; else, before it was ready, the start
    /// fails; else (policy `no`) it is an unhandled error as it always was.
    private mutating func failed(
        _ unit: UnitScope,
        of slot: UnitSlot,
        what: String,
        error: any Error,
        reason: String,
        wasReady: Bool = false
    ) {
        startupTimers.removeValue(forKey: ObjectIdentifier(unit))?.cancel()
        if options.endsOnFailure && wasReady {
            // An isolated plugin's child: its host restarts it in a fresh process.
            logger.error(
                "plugin \(slot.name) failed: \(reason); its process ends so that the host restarts it",
                metadata: ["plugin": "\(slot.name)"]
            )
            manager.latch.fire(.unitFailed(plugin: slot.name, reason: reason))
            return
        }
        let policy = slot.settings.restart
        if policy.mode == .onFailure {
            guard let recent = slot.takeRestart() else {
                logger.error(
                    "plugin \(slot.name) failed: \(reason); restart budget spent (\(policy.maxRestarts) restarts within \(policy.window.seconds))",
                    metadata: ["plugin": "\(slot.name)"]
                )
                let trigger: ShutdownTrigger =
                    announced
                    ? .restartBudgetSpent(plugin: slot.name, lastError: reason)
                    : .startFailed(plugin: slot.name, reason: "\(reason) (restart budget spent)")
                manager.latch.fire(trigger)
                return
            }
            let delay = policy.delay(afterRecentRestarts: recent)
            logger.error(
                "plugin \(slot.name) failed: \(reason); restarting in \(delay.seconds) (restart \(recent + 1) of at most \(policy.maxRestarts) within \(policy.window.seconds))",
                metadata: ["plugin": "\(slot.name)"]
            )
            options.observer.restarting(slot.name, slot.restarts)
            // Ordered start keeps waiting for this slot: its fresh instance must become ready.
            let manager = self.manager
            slot.status = .restarting(
                unit,
                teardown: Task(executorPreference: ControlExecutor.shared) {
                    let report = await manager.tearDown(unit, purpose: .restart)
                    manager.mailbox.post(.tornDownForRestart(slot, report, delay: delay))
                    return report
                }
            )
            return
        }
        if !wasReady {
            logger.error("plugin \(slot.name) failed to start: \(reason)", metadata: ["plugin": "\(slot.name)"])
            manager.latch.fire(.startFailed(plugin: slot.name, reason: reason))
            return
        }
        if error is any UnitLoss {
            // Its process is gone: without a restart, the host cannot run on as if it were there.
            logger.error("plugin \(slot.name) was lost: \(reason)", metadata: ["plugin": "\(slot.name)"])
            manager.latch.fire(.unitLost(plugin: slot.name, reason: reason))
            return
        }
        manager.reportUnhandled(plugin: slot.name, what: what, error: error)
    }

    /// The wait after a failure is over: a fresh instance is made through the plugin's factory,
    /// with a fresh context, on a thread of its own (an initializer that hangs must not stop the
    /// control thread, which handles signals); ``SupervisorEvent/instanceMade(_:_:)`` starts it.
    /// Its startup time limit runs from now, so a hanging initializer is a failure too.
    private mutating func restart(_ slot: UnitSlot) {
        guard case .waitingToRestart = slot.status, let make = slot.make else { return }
        let (unit, context) = manager.makeInstance(name: slot.name, config: slot.config, settings: slot.settings)
        slot.status = .created(unit)
        let now = ContinuousClock.now
        madeSince[ObjectIdentifier(unit)] = now
        startTimer(for: unit, of: slot, since: now)
        OwnThread.start("aiorun-create") { [mailbox = manager.mailbox] in
            let made = Result { try make(context) }
            mailbox.post(.instanceMade(unit, made))
        }
    }
}

extension LifecycleManager {
    /// Starts the units and supervises them until the first shutdown trigger, which it returns
    /// (README, "Readiness and ordered start", "Restart on failure"). Starts none if a shutdown
    /// was requested already (for example while loading).
    func startAndSupervise(_ slots: [UnitSlot]) async -> ShutdownTrigger {
        if let early = latch.fired {
            logger.warning("shutdown requested before any plugin started (\(early)); starting none")
            return early
        }
        Task(executorPreference: ControlExecutor.shared) { [latch, mailbox] in
            mailbox.post(.trigger(await latch.wait()))
        }
        var supervision = Supervision(manager: self, toStart: slots[...], all: slots)
        while true {
            // A trigger that fired meanwhile (a failed start, a spent budget, a signal) stops the
            // starting at once: no further unit starts and readiness is not announced, even for
            // events that were queued before the trigger's own event.
            if let trigger = latch.fired { return stopSupervising(supervision, trigger) }
            supervision.startMore()
            supervision.announceIfAllReady()
            let event = await mailbox.next()
            if case .trigger(let trigger) = event { return stopSupervising(supervision, trigger) }
            supervision.handle(event)
        }
    }

    /// The trigger fired: the startup timers stop, and failures posted meanwhile are judged no
    /// more: they are unhandled errors.
    private func stopSupervising(_ supervision: Supervision, _ trigger: ShutdownTrigger) -> ShutdownTrigger {
        for timer in supervision.startupTimers.values { timer.cancel() }
        for case .failed(let unit, let what, let error, _) in mailbox.close() {
            reportUnhandled(plugin: unit.name, what: what, error: error)
        }
        return trigger
    }
}
