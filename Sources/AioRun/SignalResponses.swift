import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What the manager does with the signals it owns besides the first SIGINT/SIGTERM (a second one
/// escalates; SIGUSR1 reports status; SIGHUP and SIGUSR2 are ignored), and its checks that they
/// stay its own (see README, Failure modes, Signals).
extension LifecycleManager {
    /// How often the control thread checks the owned signals' dispositions.
    static let signalSweepInterval = Duration.milliseconds(250)

    /// Checks that plugin code has not changed the signals the host owns: logs one warning per
    /// refused or undone change (naming the plugin), restores any disposition that changed, and
    /// notes `raise` calls that were sent to the process. Safe to call from any thread.
    ///
    /// Call it where the culprit is known, with `blame`: right after a plugin's library is
    /// loaded (its library constructors and entry ran; libraries loaded since the previous call
    /// are then attributed to it) and right after a plugin instance is created. The control
    /// thread also calls it periodically and at the first shutdown trigger, blaming the plugins
    /// that were running when the call itself cannot be traced.
    public func checkSignalDispositions(blame plugin: String? = nil) {
        let findings = SignalGuard.collect(newLibrariesOf: plugin)
        guard !findings.isEmpty else { return }
        let unknown = plugin.map { "plugin \($0)" } ?? suspects()
        for finding in findings {
            let name = finding.plugin ?? plugin
            let metadata: Logger.Metadata = name.map { ["plugin": "\($0)"] } ?? [:]
            switch finding.what {
            case .raised:
                logger.notice("\(finding.message(unknown: unknown))", metadata: metadata)
            case .refused, .restored, .watched:
                logger.warning("\(finding.message(unknown: unknown))", metadata: metadata)
            }
        }
    }

    /// Who may have changed a disposition when the call cannot be traced: the plugins not yet
    /// stopped.
    private func suspects() -> String {
        let stopped = progress.withLock { $0.stopped }
        let names = units.withLock { $0.map(\.name) }.filter { !stopped.contains($0) }
        switch names.count {
        case 0: return "plugin code (while loading)"
        case 1: return "plugin \(names[0])"
        default: return "one of the running plugins (\(names.joined(separator: ", ")))"
        }
    }

    /// The periodic check, on the control thread, until `run` has returned.
    func startSignalSweep() -> Task<Void, Never> {
        Task(executorPreference: ControlExecutor.shared) { [self] in
            while !finished.load(ordering: .relaxed) {
                checkSignalDispositions()
                try? await ControlClock.sleep(for: Self.signalSweepInterval)
            }
        }
    }

    /// A second SIGINT/SIGTERM: say what is still running, then exit at once with 128 + signal
    /// (README, "How shutdown proceeds").
    func escalate(signal name: String, number: Int32) {
        // First, so that a plugin's raise() that sent this signal is named.
        checkSignalDispositions()
        let code = AioRunExitCode.forced(by: number)
        var lines = ["second signal \(name) during shutdown: exiting now with \(code)"]
        for unit in units.withLock({ $0 }) {
            let running = unit.stillRunningSummary()
            if running.count > 0 { lines.append("  still running in \(unit.name): \(running)") }
        }
        logger.critical("\(lines.joined(separator: "\n"))")
        terminateProcess(code)
    }

    /// SIGHUP, SIGUSR1 or SIGUSR2, on the control thread.
    func received(otherSignal number: Int32) {
        // First, so that a raise() that sent it is named before what it caused.
        checkSignalDispositions()
        let name = SignalWatcher.name(of: number)
        switch number {
        case SIGUSR1:
            logger.notice("\(statusReport(signal: name))")
        case SIGHUP:
            logger.notice("SIGHUP received and ignored: the host has no reload; send SIGTERM to stop")
        default:
            logger.notice("\(name) received and ignored")
        }
    }

    /// The SIGUSR1 report: the manager's state, then one line per plugin with its phase and how
    /// much of its work is running.
    func statusReport(signal: String) -> String {
        let progress = self.progress.withLock { $0 }
        let now = ContinuousClock.now
        var state = "running"
        if let started = progress.shutdownStarted {
            state = "shutting down for \((now - started.at).seconds) (trigger: \(started.trigger))"
        } else if let trigger = latch.fired {
            state = "shutdown requested (\(trigger))"
        }
        let loadOrder = units.withLock { $0 }
        var lines = ["status (\(signal)): \(loadOrder.count) plugins, up \((now - createdAt).seconds), \(state)"]
        for unit in loadOrder {
            var phase =
                progress.stopped.contains(unit.name)
                ? "stopped"
                : progress.stopping == unit.name
                    ? "stopping"
                    : progress.shutdownStarted != nil ? "running, waiting for its teardown" : unit.lifeStage
            if unit.restarts > 0 { phase += " (\(unit.restarts) restarts)" }
            let running = unit.stillRunningSummary()
            let parts = [
                "\(running.count(of: .task)) tasks", "\(running.count(of: .shield)) shields",
                "\(running.count(of: .job)) jobs", "\(running.count(of: .queuedJob)) queued jobs",
                "\(running.count(of: .callback)) callbacks running",
            ]
            lines.append("  \(unit.name): \(phase), \(parts.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}
