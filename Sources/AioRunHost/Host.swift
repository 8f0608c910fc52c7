import AioRun
import AioRunPluginAPI
import Logging

/// The host's whole run (README, Command line and "How shutdown proceeds"): set up output and
/// logging, load and check every plugin and create them within the load time limit, then either
/// say what was checked (`--check`, `--inspect`) or run them under one lifecycle manager until
/// they are torn down in reverse order.
public enum Host {
    /// `aiorun-host 0.1.0 (plugin ABI 2, API 2.0.0)`, for `--version`.
    public static let version =
        "aiorun-host 0.1.0 (plugin ABI \(AIORUN_PLUGIN_ABI), API \(AIORUN_PLUGIN_API_VERSION))"

    /// Runs the host with a configuration and ends the process with its exit code (README, Exit
    /// codes), from the control thread (see `exitAfter`).
    public static func runAndExit(_ configuration: HostConfiguration) async -> Never {
        await exitAfter { await run(configuration) }
    }

    /// ``runAndExit(_:)`` for an isolated plugin's child, which reports to its host over
    /// `channel` (README, "Isolation").
    static func runAndExit(_ configuration: HostConfiguration, channel: WorkerChannel) async -> Never {
        await exitAfter { await run(configuration, channel: channel) }
    }

    /// Runs the host with a configuration and returns the process exit code. In an isolated
    /// plugin's child, `channel` is its host's: it hears of readiness, the shutdown and the
    /// teardown instead of systemd, and it starts the shutdown instead of a signal.
    static func run(_ configuration: HostConfiguration, channel: WorkerChannel? = nil) async -> Int32 {
        // Plugins print to the shared C stdout; keep it line-buffered even on a pipe, so that
        // their output is seen when it happens, not at exit.
        StandardOutput.makeLineBuffered()
        let logger = HostLogging.start(level: configuration.logLevel, format: configuration.logFormat)
        var options: LifecycleOptions
        if let channel {
            options = configuration.lifecycleOptions(observer: channel.observer)
            options.reportsToHost = true
            options.endsOnFailure = channel.endsOnFailure
            options.ignoresFirstSignal = "an isolated plugin's process stops when its host tells it to"
        } else {
            options = configuration.lifecycleOptions(observer: SystemdNotifier.observerFromEnvironment(logger: logger))
            options.observer = IsolatedPlugin.relayingDrain(options.observer)
            options.observer = StartupSteps.reporting(to: options.observer, logger: logger)
        }
        let manager = await LifecycleManager(options: options, logger: logger)
        StartupSteps.end(.lifecycle)
        channel?.listen(manager)

        let plugins: PreparedPlugins
        switch await loadWithinTimeLimit(configuration, manager: manager, logger: logger) {
        case .failure(let error):
            return error.report(format: configuration.logFormat)
        case .success(let prepared):
            plugins = prepared
            StartupSteps.end(.creating)
        }

        if configuration.mode != .run {
            return CheckReport.finish(plugins, of: configuration, manager: manager)
        }
        // A held isolated plugin's child waits for its host's turn to start it (README, "Isolation").
        await channel?.holdUntilStarted()
        PluginExitGuard.enter(.running)
        return await manager.run(plugins.units).exitCode
    }
}
