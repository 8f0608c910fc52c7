import AioRun
import AioRunPluginAPI
import Logging

extension Host {
    /// Creates the loaded plugins in load order, each with its config (the config file's values,
    /// overridden by `--set`) and its own settings (pool, time limits, restart policy and the
    /// readiness its export declares; see ``PluginSettings/unitOptions(for:argument:readiness:)``),
    /// and returns their units, each owning its plugin's `run()`. Stops creating once a
    /// shutdown was requested meanwhile (README, "How shutdown proceeds"); records each step in
    /// `progress`. With `isolated`, an isolated plugin's child process is started instead, which
    /// creates the plugin there; all are waited for at the end, so that one the child refuses is
    /// rejected here (README, "Isolation"). Without (`--check`, `--inspect`), every plugin is
    /// created here.
    static func create(
        _ loaded: [LoadedPlugin],
        settings: PluginSettings,
        isolated: IsolatedDefaults?,
        manager: LifecycleManager,
        logger: Logger,
        progress: LoadProgress
    ) throws(PluginLoadError) -> [ManagedUnit] {
        var units: [ManagedUnit] = []
        // Isolated plugins whose processes started here, each creating its plugin meanwhile.
        let held = LockedValue<[(plugin: IsolatedPlugin, path: String)]>([])
        for plugin in loaded {
            if let trigger = manager.shutdownRequested {
                logger.warning(
                    "shutdown requested while loading (\(trigger)); not creating \(plugin.name) or any later plugin"
                )
                break
            }
            progress.begin("create", of: plugin.path, name: plugin.name)
            let values = plugin.argument.config.merging(settings.config[plugin.name] ?? [:]) { _, cli in cli }
            let options = settings.unitOptions(
                for: plugin.name,
                argument: plugin.argument,
                readiness: plugin.descriptor.readiness
            )
            do {
                let unit: ManagedUnit
                if let isolated, let isolation = settings.isolation(for: plugin.name, argument: plugin.argument) {
                    // Its process starts now and creates the plugin there; nothing of it runs here
                    // (README, "Isolation"). A restart makes a fresh process when it starts.
                    let worker = isolated.worker(plugin, config: values, options: options, limits: isolation)
                    let first = LockedValue(true)
                    unit = try manager.addUnit(
                        name: plugin.name,
                        config: PluginConfig(values),
                        options: IsolatedPlugin.unitOptions(options, worker: worker)
                    ) { context in
                        let holds = first.withLock { first in
                            defer { first = false }
                            return first
                        }
                        let proxy = try IsolatedPlugin(
                            context: context,
                            manager: manager,
                            worker: worker,
                            limits: isolation,
                            logger: logger,
                            holds: holds
                        )
                        if holds { held.withLock { $0.append((proxy, plugin.path)) } }
                        return proxy
                    }
                } else {
                    unit = try manager.addUnit(
                        name: plugin.name,
                        config: PluginConfig(values),
                        options: options,
                        make: plugin.descriptor.make
                    )
                }
                // A disposition its initializer changed behind the signal guard's back is this
                // plugin's doing (README, Failure modes, Signals).
                manager.checkSignalDispositions(blame: plugin.name)
                units.append(unit)
                let (abi, api) = (plugin.descriptor.abi, plugin.descriptor.apiVersion)
                logger.log(
                    level: manager.options.routine(.info),
                    "loaded plugin \(plugin.name) from \(plugin.path) (ABI \(abi), API \(api))"
                )
            } catch {
                throw PluginLoadError(
                    path: plugin.path,
                    step: .create,
                    reason: "the plugin's initializer threw: \(error)"
                )
            }
        }
        // All their processes start at once; each must have created its plugin before anything
        // starts, so that a plugin it refuses is rejected here (65), as in process.
        for (proxy, path) in held.withLock({ $0 }) {
            do {
                try proxy.waitUntilCreated { manager.shutdownRequested != nil }
            } catch {
                throw PluginLoadError(path: path, step: .create, reason: error.description)
            }
        }
        return units
    }
}
