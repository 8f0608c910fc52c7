import AioRun
import AioRunPluginAPI
import Logging

/// An isolated plugin as the host's lifecycle manager sees it (README, "Isolation"): a unit like
/// any other, whose `run()` starts the plugin's child process and lasts as long as it. The child
/// says when the plugin is ready (its unit reports ready then); the first teardown phase tells
/// it to stop, and the unit's teardown waits for it to exit, taking the child's own teardown
/// report as its phases. A child that ends on its own is, depending on why: the shutdown it
/// started mirrored here (a `requestShutdown`, a stop on an error), or a failure that the
/// restart policy judges like any other (a crash, a signal, an `exit`, a lost channel, a limit
/// exceeded); with no restart after it was ready, the host stops with exit code 72.
final class IsolatedPlugin: AioRunPlugin {
    /// How much longer than the plugin's own time limits the host waits for its process: the
    /// process's start and exit.
    static let margin: Duration = .seconds(2)

    /// Every isolated plugin's process that runs, for the drain relay.
    private static let running = LockedValue<[ObjectIdentifier: IsolatedProcess]>([:])

    private let context: PluginContext
    private let manager: LifecycleManager
    private let worker: IsolatedWorker
    private let limits: IsolationSettings
    private let logger: Logger
    private let process = LockedValue<IsolatedProcess?>(nil)

    /// Why a held child did not create its plugin (see ``waitUntilCreated(giveUp:)``).
    struct NotCreated: Error, CustomStringConvertible {
        let description: String
    }

    /// An isolated plugin instance: `worker` says how its child runs, `limits` what it may use.
    /// With `holds` (a first instance, made while the host loads), its child is started now: it
    /// loads and creates the plugin meanwhile, and runs it only when the unit starts (README,
    /// "Isolation"); otherwise (a restart) the child is started when the unit starts.
    init(
        context: PluginContext,
        manager: LifecycleManager,
        worker: IsolatedWorker,
        limits: IsolationSettings,
        logger: Logger,
        holds: Bool
    ) throws(IsolatedProcess.StartFailure) {
        self.context = context
        self.manager = manager
        self.worker = worker
        self.limits = limits
        self.logger = logger
        context.onShutdown("stop the plugin's process") { [self] in stop() }
        guard holds else { return }
        var held = worker
        held.holdsBeforeStart = true
        let process = try IsolatedProcess.startBlocking(held, limits: limits, logger: logger) { [context] in
            context.reportReady()
        }
        self.process.withLock { $0 = process }
        logRunning(process)
    }

    /// For an instance that holds: waits until its child has created the plugin; throws the
    /// child's own reason when it could not (its library changed, its initializer threw), which
    /// rejects the plugin before anything starts, as in process. Stops waiting when `giveUp`
    /// says so (a shutdown while the host loads).
    func waitUntilCreated(giveUp: () -> Bool) throws(NotCreated) {
        guard let process = process.withLock({ $0 }), let ending = process.waitUntilCreated(giveUp: giveUp) else {
            return
        }
        // The child's own error line names the file and the step already: its reason is the rest.
        let said = ending.lastLines.last.map { line in
            let parts = line.split(separator: ": ", omittingEmptySubsequences: false)
            return parts.count > 4 && line.hasPrefix("aiorun-host: error: ")
                ? parts.dropFirst(4).joined(separator: ": ") : line
        }
        throw NotCreated(description: "\(said ?? "its process \(ending.how)") (in its process, which \(ending.how))")
    }

    /// `plugin web runs isolated in process 4242`.
    private func logRunning(_ process: IsolatedProcess) {
        logger.info(
            "plugin \(worker.name) runs isolated in process \(process.pid)",
            metadata: ["plugin": "\(worker.name)"]
        )
    }

    /// The unit's time limits: the plugin's own, plus ``margin`` for its process (the host kills
    /// the process one ``margin`` past the plugin's teardown limit, and gives up on it a second
    /// after that).
    static func unitOptions(_ options: UnitOptions, worker: IsolatedWorker) -> UnitOptions {
        var options = options
        options.shutdownTimeout = worker.shutdownTimeout + margin + .seconds(1)
        options.startupTimeout = worker.startupTimeout + margin
        options.readiness = .whenReported
        return options
    }

    /// `observer`, and the host's drain also told to every isolated plugin's process, so that
    /// their plugins read `isDraining` as true during the drain delay too (README, "Drain delay").
    static func relayingDrain(_ observer: LifecycleObserver) -> LifecycleObserver {
        var relaying = observer
        let started = observer.shutdownStarted
        relaying.shutdownStarted = { trigger in
            for process in running.withLock({ Array($0.values) }) { process.drain() }
            started(trigger)
        }
        return relaying
    }

    /// Starts the process, waits for its end, and judges it (see the type's comment).
    func run() async throws {
        let process: IsolatedProcess
        if let held = self.process.withLock({ $0 }) {
            // Started while the host loaded, its plugin created: its turn has come.
            process = held
            process.releaseHold()
        } else {
            do {
                process = try await IsolatedProcess.start(worker, limits: limits, logger: logger) { [context] in
                    context.reportReady()
                }
            } catch {
                throw IsolatedPluginLost(description: error.description)
            }
            self.process.withLock { $0 = process }
            logRunning(process)
        }
        let key = ObjectIdentifier(self)
        Self.running.withLock { $0[key] = process }
        defer { _ = Self.running.withLock { $0.removeValue(forKey: key) } }
        // Told to stop before its process existed (a shutdown during its start): stop it now.
        if context.isDraining || Task.isCancelled { stop() }

        let ending = await withTaskCancellationHandler {
            await process.ended()
        } onCancel: {
            stop()
        }
        if process.stopRequested {
            finishTeardown(ending, pid: process.pid)
            return
        }
        try judge(ending, pid: process.pid)
    }

    /// The process ended on its own (see the type's comment): a shutdown it started is taken
    /// over, with an abandonment recorded if it did not end as that shutdown ends (a crash in its
    /// teardown, a forged trigger); any other end is a failure, logged with its last lines,
    /// unless the host is stopping already: then it is recorded as what its teardown abandoned
    /// (exit 70), since nothing would restart it and a failure now is no longer judged.
    private func judge(_ ending: IsolatedProcess.Ending, pid: Int32) throws {
        let trigger = ending.trigger
        if let trigger, let mirrored = mirror(trigger) {
            if ending.endedAs(trigger.kind), let teardown = ending.teardown {
                manager.recordRemoteTeardown(of: context, teardown)
            } else if !ending.endedAs(trigger.kind) {
                logLoss(ending, pid: pid, when: ", once its own shutdown had started (\(mirrored))")
                recordAbandonment(ending)
            }
            manager.triggerShutdown(mirrored)
            return
        }
        logLoss(ending, pid: pid, when: "")
        if manager.shutdownRequested != nil {
            recordAbandonment(ending)
            return
        }
        switch trigger?.kind {
        case .startFailed:
            throw IsolatedPluginLost(
                description: "its process \(ending.how): failed to start: \(trigger?.reason ?? "")"
            )
        case .failed:
            throw IsolatedPluginLost(description: "its plugin failed in its process: \(trigger?.reason ?? "")")
        default:
            break
        }
        // Refused by its child's own checks (the library changed on disk, its initializer threw):
        // the child's error line is the reason.
        if case .exited(let code) = ending.status, ending.killed == nil,
            code == AioRunExitCode.pluginRejected || code == AioRunExitCode.usage,
            let reason = ending.lastLines.last
        {
            throw IsolatedPluginLost(description: "its process refused it (exit \(code)): \(reason)")
        }
        throw IsolatedPluginLost(description: "its process \(ending.how)")
    }

    /// `plugin web's process 4242 died of signal 11 (SIGSEGV) after 1.234s; last lines: "…"`.
    private func logLoss(_ ending: IsolatedProcess.Ending, pid: Int32, when: String) {
        // A failure the child reported and ended for, in order: its own lines said it already.
        if ending.trigger?.kind == .failed && ending.endedAs(.failed) { return }
        let lines = ending.lastLines.map { "\"\($0)\"" }.joined(separator: " | ")
        logger.error(
            "plugin \(worker.name)'s process \(pid) \(ending.how) after \(ending.lifetime.seconds)\(when); last lines: \(lines.isEmpty ? "none" : lines)",
            metadata: ["plugin": "\(worker.name)"]
        )
    }

    /// Records that the plugin's process abandoned what it ran (exit 70), as it ended: a report
    /// it sent is kept, with its process added as abandoned.
    private func recordAbandonment(_ ending: IsolatedProcess.Ending) {
        var teardown = ending.teardown ?? RemoteTeardown()
        teardown.expiredIn = teardown.expiredIn ?? .wait
        teardown.abandonedCount = max(teardown.abandonedCount, 1)
        teardown.abandonedDescription = "its process, which \(ending.how)"
        manager.recordRemoteTeardown(of: context, teardown)
    }

    /// Tells the process to stop, within the plugin's teardown time limit plus ``margin``.
    private func stop() {
        guard let process = process.withLock({ $0 }) else { return }
        let reason = manager.shutdownRequested.map { "\($0)" } ?? "restart"
        process.stop(reason: reason, within: worker.shutdownTimeout + Self.margin)
    }

    /// The host stopped the process: its teardown report is this unit's. A process killed at
    /// the time limit, or that died during its teardown, abandoned whatever it still ran.
    private func finishTeardown(_ ending: IsolatedProcess.Ending, pid: Int32) {
        if ending.endedInOrder {
            if let teardown = ending.teardown {
                manager.recordRemoteTeardown(of: context, teardown)
                return
            }
            if ending.status == .exited(AioRunExitCode.clean) { return }
        }
        logger.error(
            "plugin \(worker.name)'s process \(pid) \(ending.how) during its teardown",
            metadata: ["plugin": "\(worker.name)"]
        )
        recordAbandonment(ending)
    }

    /// The host's trigger for a shutdown that the child started by itself, if it is one the
    /// host takes over (see ``WorkerChannel/fields(of:)``); nil for a failure.
    private func mirror(_ trigger: (kind: ChildShutdown, reason: String)) -> ShutdownTrigger? {
        switch trigger.kind {
        case .requested: return .requested(plugin: worker.name, reason: trigger.reason)
        case .stoppedWithError: return .stoppedWithError(plugin: worker.name, error: trigger.reason)
        case .unhandledError: return .unhandledError(plugin: worker.name, what: trigger.reason)
        case .startFailed, .failed, .host, .other: return nil
        }
    }
}

/// An isolated plugin's process ended on its own, or could not start: the unit is gone (see
/// ``UnitLoss``). Its description says how: `its process died of signal 11 (SIGSEGV)`.
struct IsolatedPluginLost: UnitLoss {
    let description: String
}
