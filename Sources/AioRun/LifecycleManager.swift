@_spi(AioRunRuntime) import AioRunPluginAPI
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A unit registered with the manager: its context (to hand to the plugin) and its scope.
public struct ManagedUnit: Sendable {
    /// The unit's (first instance's) context, to pass to the plugin's factory.
    public let context: PluginContext
    let scope: UnitScope
    /// Its place in load order, across restarts.
    let slot: UnitSlot
    /// What the unit runs once started: a plugin instance's `run()` or the `run {}` program.
    /// Bound by ``LifecycleManager/addUnit(name:config:executorWorkers:shutdownTimeout:make:)``
    /// and ``LifecycleManager/addUnit(name:config:executorWorkers:shutdownTimeout:main:)``; `nil`
    /// on the old path, where the caller passes it to `LifecycleManager.run(_:)` instead.
    var main: (@Sendable () async throws -> Void)?
}

/// The one lifecycle manager of a process: it starts every unit in load order, each once the one
/// before is ready, supervises them until the first shutdown trigger, then tears the units down
/// one by one in reverse load order.
///
/// The sequence itself reads top to bottom in ``startAndShutDown(_:)`` (Shutdown.swift); its
/// bookkeeping is in ShutdownBookkeeping.swift, the signal responses in SignalResponses.swift.
public final class LifecycleManager: Sendable {
    package let options: LifecycleOptions
    package let logger: Logger
    let latch = TriggerLatch()
    /// Every unit in load order (README, "How shutdown proceeds").
    let units = LockedValue<[UnitSlot]>([])
    /// What the control loop reacts to while units start and run (see Supervision.swift).
    let mailbox = SupervisorMailbox()
    /// Set when a restart's teardown abandoned work at its time limit (it makes the exit code 70).
    let abandonedInRestart = Atomic<Bool>(false)
    /// Set when an unhandled error was reported (it decides the exit code with
    /// `--stop-on-unhandled-errors`).
    let sawUnhandledError = Atomic<Bool>(false)
    /// How far teardown has gone, for the SIGUSR1 status report.
    let progress = LockedValue(ShutdownProgress())
    /// Set when `run` has returned: the periodic signal check stops.
    let finished = Atomic<Bool>(false)
    /// When the manager was created, for the SIGUSR1 status report.
    let createdAt = ContinuousClock.now
    /// The signal loop and the periodic signal check, ended when `run` returns (README,
    /// "In-process use").
    let signalTasks = LockedValue<[Task<Void, Never>]>([])
    /// The errors a returning runner throws (see RunnerErrors.swift).
    let stopErrors = LockedValue(StopErrors())

    /// Creates the manager and installs its signal handling at once, so that no signal sent
    /// while plugins load or start is lost, then guards those signals against plugin code (see
    /// README, Failure modes, Signals).
    public init(options: LifecycleOptions, logger: Logger) async {
        self.options = options
        self.logger = logger
        // Before anything below changes them: restored when `run` returns (README, "In-process use").
        SignalDispositions.hold()
        // A reader that goes away (`aiorun-host … | head`) must give EPIPE on the next write, not
        // end the process without teardown (README, "Failure modes").
        signal(SIGPIPE, SIG_IGN)
        let signals = await SignalWatcher()
        let loop = signals.start(
            first: { [self] name, number in received(firstSignal: name, number: number) },
            escalate: { [self] name, number in escalate(signal: name, number: number) },
            other: { [self] number in received(otherSignal: number) }
        )
        // After the dispositions above are in place: they are the ones the guard keeps.
        SignalGuard.arm()
        let sweep = startSignalSweep()
        signalTasks.withLock { $0 = [loop, sweep] }
    }

    /// The shutdown trigger, if one has fired already (for example while plugins load).
    public var shutdownRequested: ShutdownTrigger? { latch.fired }

    /// Registers a unit (a plugin instance, or the `run {}` program) in load order, without its
    /// main: the old path, where the caller creates the plugin itself with `PluginContext.current`
    /// bound and passes its main to `run(_:)`. Prefer
    /// ``addUnit(name:config:executorWorkers:shutdownTimeout:make:)``.
    ///
    /// - Parameters:
    ///   - name: the unit's name, used in every log line and report.
    ///   - config: its string config.
    ///   - executorWorkers: its pool size, or `nil` for the manager's default.
    ///   - shutdownTimeout: its time limit, or `nil` for the manager's default.
    package func addUnit(
        name: String,
        config: PluginConfig,
        executorWorkers: Int? = nil,
        shutdownTimeout: Duration? = nil
    ) -> ManagedUnit {
        register(
            name: name,
            config: config,
            options: UnitOptions(executorWorkers: executorWorkers, shutdownTimeout: shutdownTimeout),
            make: nil
        )
    }

    /// Registers a unit in load order: its slot, with the manager's defaults filled in, and its
    /// first instance (scope and context). `make`, when given, makes fresh instances for restarts.
    private func register(
        name: String,
        config: PluginConfig,
        options unitOptions: UnitOptions,
        make: (@Sendable (PluginContext) throws -> @Sendable () async throws -> Void)?
    ) -> ManagedUnit {
        let settings = UnitSlot.Settings(
            executorWorkers: unitOptions.executorWorkers ?? options.executorWorkers,
            shutdownTimeout: unitOptions.shutdownTimeout ?? options.taskShutdownTimeout,
            startupTimeout: unitOptions.startupTimeout ?? options.startupTimeout,
            restart: make == nil ? .no : unitOptions.restart ?? options.restart,
            readiness: unitOptions.readiness
        )
        let (scope, context) = makeInstance(name: name, config: config, settings: settings)
        let slot = UnitSlot(name: name, config: config, settings: settings, make: make, first: scope)
        units.withLock { $0.append(slot) }
        return ManagedUnit(context: context, scope: scope, slot: slot)
    }

    /// A fresh instance of a unit: its scope, wired to this manager, and its context.
    func makeInstance(name: String, config: PluginConfig, settings: UnitSlot.Settings) -> (UnitScope, PluginContext) {
        var events = UnitEvents(
            unhandled: { [self] plugin, what, error in reportUnhandled(plugin: plugin, what: what, error: error) },
            requestShutdown: { [self] plugin, reason in
                if latch.fire(.requested(plugin: plugin, reason: reason)) {
                    logger.notice("shutdown requested: \(reason)", metadata: ["plugin": "\(plugin)"])
                }
            },
            warn: { [logger] plugin, message in logger.warning("\(message)", metadata: ["plugin": "\(plugin)"]) }
        )
        events.stop = { [self] plugin, error in stop(plugin: plugin, error: error) }
        events.callbackFailed = { [self] plugin, what, error in
            stopErrors.withLock { $0.callback = $0.callback ?? error }
            reportUnhandled(plugin: plugin, what: what, error: error)
        }
        events.ready = { [mailbox] unit in mailbox.post(.ready(unit)) }
        events.failed = { [self] unit, what, error, wasReady in
            // Once shutdown has begun no loop takes failures: they are unhandled errors.
            if !mailbox.post(.failed(unit, what: what, error: error, wasReady: wasReady)) {
                reportUnhandled(plugin: unit.name, what: what, error: error)
            }
        }
        let scope = UnitScope(
            name: name,
            executorWorkers: settings.executorWorkers,
            shutdownTimeout: settings.shutdownTimeout,
            events: events
        )
        let context = PluginContext(
            name: name,
            log: PluginLog(
                pluginName: name,
                minimumLevel: logger.logLevel.pluginLevel,
                sink: pluginLogSink(boundTo: name)
            ),
            config: config,
            threadHint: OnlineCores.count,
            scope: scope
        )
        scope.attach(context)
        return (scope, context)
    }

    /// Registers a plugin instance in load order: creates its context, then the plugin with
    /// `make` while that context is `PluginContext.current`, and binds the plugin's `run()` as the
    /// unit's main. Errors from `make` are rethrown; nothing of the unit has started then.
    ///
    /// - Parameters:
    ///   - name: the unit's name, used in every log line and report.
    ///   - config: its string config.
    ///   - executorWorkers: its pool size, or `nil` for the manager's default.
    ///   - shutdownTimeout: its time limit, or `nil` for the manager's default.
    ///   - make: creates the plugin from its context (a descriptor's `make`).
    public func addUnit(
        name: String,
        config: PluginConfig,
        executorWorkers: Int? = nil,
        shutdownTimeout: Duration? = nil,
        make: (PluginContext) throws -> any AioRunPlugin
    ) rethrows -> ManagedUnit {
        var unit = addUnit(
            name: name,
            config: config,
            executorWorkers: executorWorkers,
            shutdownTimeout: shutdownTimeout
        )
        let context = unit.context
        let plugin = try PluginContext.$current.withValue(context) { try make(context) }
        // Kept for the life of the process, like the library that holds its code (never
        // unloaded): a plugin's deinit never runs after its teardown, so code that the host no
        // longer watches (a damaged library's deinit, say) cannot run between the report and
        // the exit, and `--check` ends without running any.
        _ = Unmanaged.passRetained(plugin as AnyObject)
        unit.main = { try await plugin.run() }
        unit.slot.main = unit.main
        return unit
    }

    /// Registers a plugin instance in load order with its own settings (README, "Readiness and
    /// ordered start", "Restart on failure"): like
    /// ``addUnit(name:config:executorWorkers:shutdownTimeout:make:)``, and `make` is kept, so
    /// that a restart creates a fresh instance from it with a fresh context.
    public func addUnit(
        name: String,
        config: PluginConfig,
        options: UnitOptions,
        make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) throws -> ManagedUnit {
        let instance: @Sendable (PluginContext) throws -> @Sendable () async throws -> Void = { context in
            let plugin = try PluginContext.$current.withValue(context) { try make(context) }
            // Kept for the life of the process, like the library that holds its code; see
            // addUnit(name:config:executorWorkers:shutdownTimeout:make:).
            _ = Unmanaged.passRetained(plugin as AnyObject)
            return { try await plugin.run() }
        }
        var unit = register(name: name, config: config, options: options, make: instance)
        unit.main = try instance(unit.context)
        unit.slot.main = unit.main
        return unit
    }

    /// Registers a unit that runs `main` (the `run {}` program) in load order.
    ///
    /// - Parameters:
    ///   - name: the unit's name, used in every log line and report.
    ///   - config: its string config.
    ///   - executorWorkers: its pool size, or `nil` for the manager's default.
    ///   - shutdownTimeout: its time limit, or `nil` for the manager's default.
    ///   - main: what the unit runs; it sees the unit's context as `PluginContext.current`.
    public func addUnit(
        name: String,
        config: PluginConfig,
        executorWorkers: Int? = nil,
        shutdownTimeout: Duration? = nil,
        main: @escaping @Sendable () async throws -> Void
    ) -> ManagedUnit {
        var unit = addUnit(
            name: name,
            config: config,
            executorWorkers: executorWorkers,
            shutdownTimeout: shutdownTimeout
        )
        unit.main = main
        unit.slot.main = main
        return unit
    }

    /// Starts the units in load order, each once the one before is ready (README, "Readiness and
    /// ordered start"), logs `ready: N plugins running` once all are, restarts failed units
    /// within their budget until the first shutdown trigger, and tears the units down in reverse
    /// load order (README, "How shutdown proceeds"). Returns the report; its `exitCode` is the
    /// process's exit code.
    ///
    /// Before it returns, it stops its signal handling and restores the signal dispositions it
    /// found (README, "In-process use"), except inside ``exitAfter(_:)``: a process about to exit
    /// keeps them until `_exit`, so that a signal during the exit's bounded flush still forces
    /// the exit and a closed stdout still gives EPIPE.
    public func run(_ units: [ManagedUnit]) async -> ShutdownReport {
        // The manager's own control flow runs on its dedicated thread (see ControlExecutor).
        let report = await withTaskExecutorPreference(ControlExecutor.shared) {
            await startAndShutDown(units)
        }
        if !ProcessExitScope.isExiting { await releaseSignals() }
        return report
    }

    /// `run(_:)` with each unit's main passed beside it, for units added with
    /// ``addUnit(name:config:executorWorkers:shutdownTimeout:)``: for callers that need a unit's
    /// context before its plugin exists (the test kit routes captured logs by it). The host uses
    /// ``addUnit(name:config:executorWorkers:shutdownTimeout:make:)``.
    package func run(_ mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)]) async -> ShutdownReport {
        await run(
            mains.map { unit, main in
                var unit = unit
                unit.main = main
                unit.slot.main = main
                return unit
            }
        )
    }

    /// Logs an error no caller will see and, with `--stop-on-unhandled-errors`, fires the
    /// shutdown trigger.
    func reportUnhandled(plugin: String, what: String, error: any Error) {
        logger.error("\(what) failed: \(error)", metadata: ["plugin": "\(plugin)"])
        guard options.stopOnUnhandledErrors else { return }
        sawUnhandledError.store(true, ordering: .relaxed)
        if latch.fire(.unhandledError(plugin: plugin, what: what)) {
            stopErrors.withLock { $0.cause = error }
            logger.error("stopping because of --stop-on-unhandled-errors", metadata: ["plugin": "\(plugin)"])
        }
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
