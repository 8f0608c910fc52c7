import AioRun
import AioRunPluginAPI
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The host's whole run: install signals, load and check every plugin, create them, run them
/// under one lifecycle manager, tear them down in reverse order. Returns the exit code.
public enum Host {
    /// Runs the host with a validated configuration and returns the process exit code.
    public static func run(_ configuration: HostConfiguration) async -> Int32 {
        // Plugins print to the shared C stdout; keep it line-buffered even on a pipe, so that
        // their output is seen when it happens, not at exit.
        StandardOutput.makeLineBuffered()
        let level = configuration.logLevel
        let format = configuration.logFormat
        LoggingSystem.bootstrap { HostLogHandler(label: $0, level: level, format: format) }
        var logger = Logger(label: "aiorun-host")
        logger.logLevel = level

        var options = LifecycleOptions(
            taskShutdownTimeout: configuration.taskShutdownTimeout,
            executorWorkers: configuration.executorWorkers,
            stopOnUnhandledErrors: configuration.stopOnUnhandledErrors)
        if let notifier = SystemdNotifier(environment: environment("NOTIFY_SOCKET")) {
            options.observer = notifier.observer(
                watchdogMicroseconds: SystemdNotifier.watchdogMicroseconds(
                    usec: environment("WATCHDOG_USEC"), pid: environment("WATCHDOG_PID")))
        }
        let manager = await LifecycleManager(options: options, logger: logger)

        // Plugin code runs while loading (library constructors, the entry, the plugins'
        // initializers): on a thread of its own, never the control thread, so that a signal that
        // arrives meanwhile is seen and said at once, the load time limit holds, and a second
        // signal still forces the exit (see README, "How shutdown proceeds").
        let progress = LoadProgress()
        PluginExitGuard.install(format: format, logger: logger)
        PluginExitGuard.enter(.loading(progress))
        let prepared: PrepareResult
        let loadLogger = logger
        switch await watchLoad(limit: configuration.loadTimeout, manager: manager, progress: progress, logger: logger, {
            prepare(configuration, manager: manager, logger: loadLogger, progress: progress)
        }) {
        case .expired(let step):
            return reject(LoadTimeLimitError(step: step, limit: configuration.loadTimeout), format: format)
        case .finished(let result):
            prepared = result
        }
        let (loaded, mains): ([LoadedPlugin], [(unit: ManagedUnit, main: @Sendable () async throws -> Void)])
        switch prepared {
        case .failure(let error):
            return reject(error, format: format)
        case .success(let result):
            (loaded, mains) = result
        }

        if configuration.mode != .run {
            describe(loaded, detailed: configuration.mode == .inspect)
            return AioRunExitCode.clean
        }
        PluginExitGuard.enter(.running)
        let report = await manager.run(mains)
        return report.exitCode
    }

    /// Loads and checks every plugin (DESIGN §3), checks `--set` targets, then creates the
    /// plugins in load order; stops creating once a shutdown was requested meanwhile.
    /// Records each step in `progress`.
    static func prepare(
        _ configuration: HostConfiguration, manager: LifecycleManager, logger: Logger, progress: LoadProgress
    ) -> PrepareResult {
        let loaded: [LoadedPlugin]
        do {
            progress.begin("API self-check", of: "libAioRunPluginAPI.so")
            try APISelfCheck.verify()
            // The pre-flight child gets 90% of the load time limit, so that a file that hangs it
            // is named by the pre-flight itself before the limit of the whole load expires.
            loaded = try loadAll(
                configuration.plugins, allowInsecure: configuration.allowInsecurePlugins,
                preflight: configuration.preflight, loadTimeout: configuration.loadTimeout * 0.9,
                onStep: progress.loading, loaded: { name in manager.checkSignalDispositions(blame: name) })
        } catch {
            return .failure(error)
        }
        let names = Set(loaded.map(\.name))
        if let unknown = configuration.settings.keys.sorted().first(where: { !names.contains($0) }) {
            return .failure(HostUsageError(
                "--set \(unknown).…: no plugin named \(unknown) is loaded (loaded: \(loaded.map(\.name).joined(separator: ", ")))"))
        }

        var mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)] = []
        for plugin in loaded {
            if let trigger = manager.shutdownRequested {
                logger.warning("shutdown requested while loading (\(trigger)); not creating \(plugin.name) or any later plugin")
                break
            }
            progress.begin("create", of: plugin.path, name: plugin.name)
            let values = plugin.argument.config.merging(configuration.settings[plugin.name] ?? [:]) { _, cli in cli }
            let unit = manager.addUnit(
                name: plugin.name, config: PluginConfig(values),
                executorWorkers: plugin.argument.executorWorkers, shutdownTimeout: plugin.argument.taskShutdownTimeout)
            do {
                let instance = try PluginContext.$current.withValue(unit.context) { try plugin.descriptor.make(unit.context) }
                // A disposition its initializer changed behind the signal guard's back is this
                // plugin's doing (README, Failure modes, Signals).
                manager.checkSignalDispositions(blame: plugin.name)
                mains.append((unit, { try await instance.run() }))
                logger.info("loaded plugin \(plugin.name) from \(plugin.path) (ABI \(plugin.descriptor.abi), API \(plugin.descriptor.apiVersion))")
            } catch {
                return .failure(PluginLoadError(path: plugin.path, step: .create, reason: "the plugin's initializer threw: \(error)"))
            }
        }
        return .success((loaded, mains))
    }

    /// What ``prepare(_:manager:logger:progress:)`` returns: every plugin loaded, and the `run()`
    /// of each plugin created; or why loading stopped.
    typealias PrepareResult = Result<([LoadedPlugin], [(unit: ManagedUnit, main: @Sendable () async throws -> Void)]), any Error>

    /// `--check` / `--inspect`: one line per plugin that passed every check, on stdout.
    static func describe(_ plugins: [LoadedPlugin], detailed: Bool) {
        for plugin in plugins {
            let image = ELFImage(path: plugin.path)
            let toolchain = image?.swiftToolchain ?? "unknown (not recorded in the file)"
            print("ok \(plugin.name) path=\(plugin.path) abi=\(plugin.descriptor.abi) api=\(plugin.descriptor.apiVersion) toolchain=\"\(toolchain)\"")
            guard detailed, let image else { continue }
            let entry = image.definedDynamicSymbols.first { $0.name == "aiorun_plugin_entry" }
            print("  entry: aiorun_plugin_entry at 0x\(String(entry?.value ?? 0, radix: 16))")
            print("  needs: \(image.neededLibraries.joined(separator: ", "))")
            print("  runpath: \(image.runPath.isEmpty ? "(none)" : image.runPath.joined(separator: ":"))")
        }
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    private static func reject(_ error: any Error, format: LogFormat) -> Int32 {
        if let error = error as? HostUsageError {
            HostLogHandler.writeError(error.description, format: format)
            return AioRunExitCode.usage
        }
        if let error = error as? PluginLoadError, let usage = error.usage {
            HostLogHandler.writeError("\(usage): plugin \(error.path): \(error.reason)", format: format)
            return AioRunExitCode.usage
        }
        HostLogHandler.writeError("\(error)", format: format)
        return AioRunExitCode.pluginRejected
    }
}
