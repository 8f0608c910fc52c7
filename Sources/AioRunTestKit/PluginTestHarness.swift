import AioRun
import Logging

/// Runs one plugin in this process under a real ``LifecycleManager``, the way the host would,
/// then shuts it down and hands back the ``ShutdownReport`` — without spawning the host and
/// without exiting the process (see README, "Testing your plugin").
///
///     let harness = await PluginTestHarness(config: ["interval": "0.1"]) { try MyPlugin(context: $0) }
///     try await harness.start()
///     // … let it work, or wait for a log line:
///     try await harness.waitForRecord(containing: "tick", within: .seconds(5))
///     let report = await harness.shutdown()
///     XCTAssertEqual(report.exitCode, 0)
///
/// The teardown is the host's: `onShutdown` callbacks, then cancelling `run()` and tracked tasks,
/// waiting for them and for `shutdownWaitsFor` shields, then draining the executor pool, each
/// unit within its time limit (README, "How shutdown proceeds"). The trigger is a
/// `requestShutdown` from the harness instead of a signal, so the report's trigger is
/// `.requested(plugin:reason:)`.
///
/// One harness runs one plugin once. Creating a harness installs the manager's process signal
/// handling (SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 are trapped), which a test process does not
/// notice.
public final class PluginTestHarness: Sendable {
    /// The plugin's name in log records and in the report.
    public let name: String
    /// The context handed to the plugin: its config, log, executor pool and lifecycle calls.
    public let context: PluginContext
    private let manager: LifecycleManager
    private let unit: ManagedUnit
    private let make: @Sendable (PluginContext) throws -> any AioRunPlugin
    private let log: CapturedLog
    private let running: HarnessState

    /// Prepares a harness; nothing of the plugin runs until ``start()``.
    ///
    /// - Parameters:
    ///   - name: the plugin's name, as the host would take it from the plugin's descriptor.
    ///   - config: the plugin's config, as `--set NAME.KEY=VALUE` or the config file would give it.
    ///   - shutdownTimeout: the plugin's teardown time limit (`--task-shutdown-timeout`).
    ///   - executorWorkers: the plugin's executor pool size (`--executor-workers`).
    ///   - stopOnUnhandledErrors: as `--stop-on-unhandled-errors`: an error thrown by `run()` or a
    ///     tracked task starts shutdown, and the report's exit code is 1.
    ///   - logLevel: the least level captured (and the plugin's `log.minimumLevel`).
    ///   - plugin: creates the plugin from its context, like the closure given to
    ///     `aiorunExportPlugin`.
    public init(
        name: String = "plugin",
        config: [String: String] = [:],
        shutdownTimeout: Duration = .seconds(10),
        executorWorkers: Int = 2,
        stopOnUnhandledErrors: Bool = false,
        logLevel: Logger.Level = .trace,
        plugin: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) async {
        let log = CapturedLog()
        var logger = Logger(label: "aiorun") { label in CapturingLogHandler(label: label, log: log) }
        logger.logLevel = logLevel
        var options = LifecycleOptions(
            taskShutdownTimeout: shutdownTimeout,
            executorWorkers: executorWorkers,
            stopOnUnhandledErrors: stopOnUnhandledErrors
        )
        let running = HarnessState()
        options.observer.ready = { _ in running.markReady() }
        let manager = await LifecycleManager(options: options, logger: logger)
        let unit = manager.addUnit(name: name, config: PluginConfig(config))
        self.name = name
        self.manager = manager
        self.unit = unit
        self.context = unit.context
        self.make = plugin
        self.log = log
        self.running = running
        CaptureRouting.register(unit.context, to: log)
    }

    deinit {
        CaptureRouting.unregister(context)
    }

    /// Creates the plugin (with ``PluginContext/current`` bound to its context, as the host does)
    /// and starts its `run()` as a tracked task. Returns once it has started; an error thrown by
    /// the plugin's initializer is rethrown, and nothing runs.
    ///
    /// Calling it twice is a programming error and traps.
    public func start() async throws {
        precondition(running.beginStart(), "PluginTestHarness.start() called twice")
        let context = self.context
        let instance = try PluginContext.$current.withValue(context) { try make(context) }
        let manager = self.manager
        let mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)] = [
            (unit, { try await instance.run() })
        ]
        running.started(Task { await manager.run(mains) })
        // Bounded: the manager starts the unit at once, unless shutdown was requested already
        // (say, by the plugin's initializer), in which case it starts nothing.
        let deadline = ContinuousClock.now + .seconds(10)
        while !running.isReady && manager.shutdownRequested == nil && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Triggers shutdown as a `requestShutdown(reason:)` would, waits for the whole teardown and
    /// returns its report. If the plugin already requested shutdown, this waits for that one.
    ///
    /// Calling it before ``start()`` is a programming error and traps.
    public func shutdown(reason: String = "test harness shutdown") async -> ShutdownReport {
        guard let task = running.task else { preconditionFailure("PluginTestHarness.shutdown() before start()") }
        context.requestShutdown(reason: reason)
        return await task.value
    }

    /// Waits for a shutdown that something else triggers (the plugin's own `requestShutdown`, or
    /// an unhandled error with `stopOnUnhandledErrors`), at most `timeout`; `nil` if none came.
    public func waitForShutdown(within timeout: Duration) async -> ShutdownReport? {
        guard let task = running.task else { return nil }
        let deadline = ContinuousClock.now + timeout
        while manager.shutdownRequested == nil {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return await task.value
    }

    /// Whether something triggered shutdown yet, and what.
    public var shutdownTrigger: ShutdownTrigger? { manager.shutdownRequested }

    /// Every log record so far: the plugin's own (`context.log`, or swift-log through the
    /// bridge) and the manager's (`ready`, `shutdown started`, unhandled errors, the report).
    public var records: [CapturedLogRecord] { log.records }

    /// The plugin's own records only (those that carry its name, not the manager's).
    public var pluginRecords: [CapturedLogRecord] { log.records.filter { $0.plugin == name && $0.label != nil } }

    /// Waits until a record whose message contains `text` has been logged; returns it, or throws
    /// ``HarnessTimeout`` after `timeout`.
    @discardableResult
    public func waitForRecord(containing text: String, within timeout: Duration) async throws -> CapturedLogRecord {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = log.records.first(where: { $0.message.contains(text) }) { return found }
            guard ContinuousClock.now < deadline else { throw HarnessTimeout(waitingFor: text, after: timeout) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A harness wait ran out of time.
public struct HarnessTimeout: Error, CustomStringConvertible {
    /// What the harness waited for.
    public let waitingFor: String
    /// How long it waited.
    public let after: Duration

    /// `no log record containing "…" within 5 seconds`.
    public var description: String { "no log record containing \"\(waitingFor)\" within \(after)" }
}
