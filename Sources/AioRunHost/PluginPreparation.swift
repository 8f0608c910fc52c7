import AioRun
import Logging

/// The plugins ready to run: every plugin loaded, and the `run()` of each plugin created.
struct PreparedPlugins: Sendable {
    /// Every plugin that passed the loading checks, in load order.
    let loaded: [LoadedPlugin]
    /// Each created plugin's unit and its `run()`, in load order (fewer than `loaded` when a
    /// shutdown was requested while they were created).
    let units: [ManagedUnit]
}

extension Host {
    /// What ``prepare(_:manager:logger:progress:)`` returns: the plugins, or why loading stopped.
    typealias PrepareResult = Result<PreparedPlugins, HostError>

    /// Everything before the plugins run, in order: the API self-check, loading and checking
    /// every plugin (README, Failure modes), checking `--set` targets, then creating the plugins
    /// in load order. Runs plugin code, so it runs on a thread of its own (see
    /// ``loadWithinTimeLimit(_:manager:logger:)``); records each step in `progress`.
    static func prepare(
        _ configuration: HostConfiguration,
        manager: LifecycleManager,
        logger: Logger,
        progress: LoadProgress
    ) -> PrepareResult {
        let loaded: [LoadedPlugin]
        do {
            progress.begin("API self-check", of: "libAioRunPluginAPI.so")
            try APISelfCheck.verify()
            // The pre-flight child gets 90% of the load time limit, so that a file that hangs it
            // is named by the pre-flight itself before the limit of the whole load expires.
            loaded = try loadAll(
                configuration.plugins,
                allowInsecure: configuration.allowInsecurePlugins,
                preflight: configuration.preflight,
                loadTimeout: configuration.loadTimeout * 0.9,
                onStep: { step, subject in progress.begin(step, of: subject) },
                loaded: { name in manager.checkSignalDispositions(blame: name) },
                stopRequested: { manager.shutdownRequested != nil }
            )
        } catch {
            return .failure(error.hostError)
        }
        do {
            // After a signal while loading, later plugins were not loaded: their `--set` and
            // per-plugin options (`--restart NAME=…`) are fine.
            if manager.shutdownRequested == nil {
                try checkSettingTargets(configuration.settings, loaded: loaded)
            }
        } catch {
            return .failure(error.hostError)
        }
        do {
            let units = try create(
                loaded,
                settings: configuration.settings,
                // `--check` and `--inspect` create every plugin here, isolated or not, so that
                // both modes are checked alike (README, "Isolation").
                isolated: configuration.mode == .run ? IsolatedDefaults(configuration, manager: manager) : nil,
                manager: manager,
                logger: logger,
                progress: progress
            )
            return .success(PreparedPlugins(loaded: loaded, units: units))
        } catch {
            return .failure(error.hostError)
        }
    }

    /// A `--set` for a plugin that is not loaded is a usage error (README, Command line).
    static func checkSettingTargets(
        _ settings: [String: [String: String]],
        loaded: [LoadedPlugin]
    ) throws(HostUsageError) {
        let names = loaded.map(\.name)
        if let unknown = settings.keys.sorted().first(where: { !names.contains($0) }) {
            throw HostUsageError(
                "--set \(unknown).…: no plugin named \(unknown) is loaded (loaded: \(names.joined(separator: ", ")))"
            )
        }
    }
}
