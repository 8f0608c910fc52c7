@_spi(AioRunRuntime) import AioRunPluginAPI
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A unit registered with the manager: its context (to hand to the plugin) and its scope.
public struct ManagedUnit: Sendable {
    /// The unit's context, to pass to the plugin's factory.
    public let context: PluginContext
    let scope: UnitScope
}

/// The one lifecycle manager of a process: it starts every unit in load order, waits for the
/// first shutdown trigger, then tears the units down one by one in reverse load order.
public final class LifecycleManager: Sendable {
    let options: LifecycleOptions
    let logger: Logger
    let latch = TriggerLatch()
    let units = LockedValue<[UnitScope]>([])
    private let sawUnhandledError = Atomic<Bool>(false)
    /// How far teardown has gone, for the SIGUSR1 status report.
    let progress = LockedValue(ShutdownProgress())
    /// Set when `run` has returned: the periodic signal check stops.
    let finished = Atomic<Bool>(false)
    /// When the manager was created, for the SIGUSR1 status report.
    let createdAt = ContinuousClock.now

    /// Creates the manager and installs its signal handling at once, so that no signal sent
    /// while plugins load or start is lost, then guards those signals against plugin code (see
    /// README, Failure modes, Signals).
    public init(options: LifecycleOptions, logger: Logger) async {
        self.options = options
        self.logger = logger
        // A reader that goes away (`aiorun-host … | head`) must give EPIPE on the next write, not
        // end the process without teardown (README, "Failure modes").
        signal(SIGPIPE, SIG_IGN)
        let signals = await SignalWatcher()
        signals.start(
            latch: latch,
            escalate: { [self] name, number in escalate(signal: name, number: number) },
            other: { [self] number in received(otherSignal: number) })
        // After the dispositions above are in place: they are the ones the guard keeps.
        SignalGuard.arm()
        startSignalSweep()
    }

    /// The shutdown trigger, if one has fired already (for example while plugins load).
    public var shutdownRequested: ShutdownTrigger? { latch.fired }

    /// Registers a unit (a plugin instance, or the `run {}` program) in load order.
    ///
    /// - Parameters:
    ///   - name: the unit's name, used in every log line and report.
    ///   - config: its string config.
    ///   - executorWorkers: its pool size, or `nil` for the manager's default.
    ///   - shutdownTimeout: its time limit, or `nil` for the manager's default.
    public func addUnit(
        name: String, config: PluginConfig, executorWorkers: Int? = nil, shutdownTimeout: Duration? = nil
    ) -> ManagedUnit {
        let events = UnitEvents(
            unhandled: { [self] plugin, what, error in reportUnhandled(plugin: plugin, what: what, error: error) },
            requestShutdown: { [self] plugin, reason in
                if latch.fire(.requested(plugin: plugin, reason: reason)) {
                    logger.notice("shutdown requested: \(reason)", metadata: ["plugin": "\(plugin)"])
                }
            },
            warn: { [logger] plugin, message in logger.warning("\(message)", metadata: ["plugin": "\(plugin)"]) }
        )
        let scope = UnitScope(
            name: name,
            executorWorkers: executorWorkers ?? options.executorWorkers,
            shutdownTimeout: shutdownTimeout ?? options.taskShutdownTimeout,
            events: events)
        let context = PluginContext(
            name: name,
            log: PluginLog(pluginName: name, minimumLevel: logger.logLevel.pluginLevel, sink: pluginLogSink(boundTo: name)),
            config: config,
            threadHint: OnlineCores.count,
            scope: scope)
        scope.attach(context)
        units.withLock { $0.append(scope) }
        return ManagedUnit(context: context, scope: scope)
    }

    /// Starts each unit's main in load order, all concurrently, logs `ready: N plugins running`,
    /// waits for the first shutdown trigger, and tears the units down in reverse load order.
    /// Returns the report; its `exitCode` is the process's exit code.
    public func run(_ mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)]) async -> ShutdownReport {
        // The manager's own control flow runs on its dedicated thread (see ControlExecutor).
        await withTaskExecutorPreference(ControlExecutor.shared) {
            await runOnControlThread(mains)
        }
    }

    private func runOnControlThread(_ mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)]) async -> ShutdownReport {
        if let early = latch.fired {
            logger.warning("shutdown requested before any plugin started (\(early)); starting none")
        } else {
            for (unit, main) in mains {
                unit.scope.spawn(label: "run()", fromControlThread: true, operation: main)
            }
            logger.notice("ready: \(mains.count) plugins running")
            options.observer.ready(mains.count)
        }
        let heartbeat = startHeartbeat()
        defer { heartbeat?.cancel() }
        let trigger = await latch.wait()
        let started = ContinuousClock.now
        // Before teardown relies on them: a second SIGINT/SIGTERM must still force the exit.
        checkSignalDispositions()
        let loadOrder = units.withLock { $0 }
        progress.withLock { $0.shutdownStarted = (started, "\(trigger)") }
        logger.notice("shutdown started by \(trigger): stopping \(loadOrder.count) plugins in reverse load order")
        options.observer.shutdownStarted(trigger)
        var reports: [UnitTeardownReport] = []
        for unit in loadOrder.reversed() {
            progress.withLock { $0.stopping = unit.name }
            options.observer.teardownStarted(unit.name, unit.shutdownTimeout)
            let report = await tearDown(unit)
            progress.withLock { _ = $0.stopped.insert(unit.name) }
            options.observer.teardownFinished(report)
            reports.append(report)
        }
        progress.withLock { $0.stopping = nil }
        let report = ShutdownReport(
            trigger: trigger, units: reports, exitCode: exitCode(for: reports), total: .now - started)
        logger.notice("\(report.summary)")
        finished.store(true, ordering: .relaxed)
        return report
    }

    /// The observer's heartbeat, on the control thread: it stops beating if that thread stalls.
    private func startHeartbeat() -> Task<Void, Never>? {
        guard let heartbeat = options.observer.heartbeat else { return nil }
        return Task(executorPreference: ControlExecutor.shared) {
            while !Task.isCancelled {
                heartbeat.beat()
                try? await ControlClock.sleep(for: heartbeat.interval)
            }
        }
    }

    private func exitCode(for reports: [UnitTeardownReport]) -> Int32 {
        if options.stopOnUnhandledErrors && sawUnhandledError.load(ordering: .relaxed) {
            return AioRunExitCode.unhandledError
        }
        if reports.contains(where: { $0.expiredIn != nil }) {
            return AioRunExitCode.abandoned
        }
        return AioRunExitCode.clean
    }

    private func reportUnhandled(plugin: String, what: String, error: any Error) {
        logger.error("\(what) failed: \(error)", metadata: ["plugin": "\(plugin)"])
        guard options.stopOnUnhandledErrors else { return }
        sawUnhandledError.store(true, ordering: .relaxed)
        if latch.fire(.unhandledError(plugin: plugin, what: what)) {
            logger.error("stopping because of --stop-on-unhandled-errors", metadata: ["plugin": "\(plugin)"])
        }
    }

    /// A second signal: say what is still running, then exit at once with 128 + signal.
    private func escalate(signal name: String, number: Int32) {
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

    /// The sink behind each context's `log`: attributes a record to the unit whose task is
    /// logging (aliases share one swift-log copy through the bridge), else to the bound unit.
    /// The record's logger label travels as `logger` metadata, which the host's handler shows as
    /// the label.
    private func pluginLogSink(boundTo name: String) -> PluginLogSink {
        let logger = self.logger
        return { level, label, message, metadata in
            var merged: Logger.Metadata = [:]
            for (key, value) in metadata { merged[key] = .string(value) }
            let plugin = PluginContext.current?.name ?? name
            merged["plugin"] = .string(plugin)
            merged["logger"] = .string(label)
            logger.log(level: Logger.Level(pluginRank: level), "\(message)", metadata: merged)
        }
    }
}

extension Logger.Level {
    init(pluginRank: Int) {
        self = Logger.Level.allCases.first { $0.pluginLevel.rawValue == pluginRank } ?? .info
    }

    var pluginLevel: PluginLogLevel {
        switch self {
        case .trace: return .trace
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }
}
