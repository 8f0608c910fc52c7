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
        LoggingSystem.bootstrap { HostLogHandler(label: $0, level: level) }
        var logger = Logger(label: "aiorun-host")
        logger.logLevel = level

        let manager = await LifecycleManager(
            options: LifecycleOptions(
                taskShutdownTimeout: configuration.taskShutdownTimeout,
                executorWorkers: configuration.executorWorkers,
                stopOnUnhandledErrors: configuration.stopOnUnhandledErrors),
            logger: logger)

        let loaded: [LoadedPlugin]
        do {
            try APISelfCheck.verify()
            loaded = try loadAll(configuration.plugins, allowInsecure: configuration.allowInsecurePlugins)
        } catch {
            return reject(error)
        }
        let names = Set(loaded.map(\.name))
        if let unknown = configuration.settings.keys.sorted().first(where: { !names.contains($0) }) {
            HostLogHandler.write("aiorun-host: error: --set \(unknown).…: no plugin named \(unknown) is loaded (loaded: \(loaded.map(\.name).joined(separator: ", ")))\n")
            return AioRunExitCode.usage
        }

        var mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)] = []
        for plugin in loaded {
            let unit = manager.addUnit(name: plugin.name, config: PluginConfig(configuration.settings[plugin.name] ?? [:]))
            do {
                let instance = try PluginContext.$current.withValue(unit.context) { try plugin.descriptor.make(unit.context) }
                mains.append((unit, { try await instance.run() }))
                logger.info("loaded plugin \(plugin.name) from \(plugin.path) (ABI \(plugin.descriptor.abi), API \(plugin.descriptor.apiVersion))")
            } catch {
                return reject(PluginLoadError(path: plugin.path, step: .create, reason: "the plugin's initializer threw: \(error)"))
            }
        }

        let report = await manager.run(mains)
        return report.exitCode
    }

    /// Steps 1–4 of DESIGN §3 for every argument, in order, before anything is created.
    static func loadAll(_ arguments: [PluginArgument], allowInsecure: Bool) throws(PluginLoadError) -> [LoadedPlugin] {
        let resolver = PluginResolver(
            environmentPath: getenv("AIORUN_PLUGIN_PATH").map { String(cString: $0) },
            hostBinaryFolder: PluginResolver.hostBinaryFolder)
        var loaded: [LoadedPlugin] = []
        for argument in arguments {
            let path = try resolver.resolve(argument.target)
            let descriptor = try PluginLoader.load(path: path, allowInsecure: allowInsecure)
            guard PluginName.isValid(descriptor.name) else {
                throw PluginLoadError(path: path, step: .name, reason: "\"\(descriptor.name)\" \(PluginName.rule)")
            }
            let name = argument.alias ?? descriptor.name
            if let clash = loaded.first(where: { $0.name == name }) {
                throw PluginLoadError(
                    path: path, step: .name,
                    reason: "a plugin named \(name) is already loaded from \(clash.path); load it again as alias=\(argument.target)")
            }
            loaded.append(LoadedPlugin(name: name, path: path, descriptor: descriptor))
        }
        return loaded
    }

    private static func reject(_ error: any Error) -> Int32 {
        HostLogHandler.write("aiorun-host: error: \(error)\n")
        return AioRunExitCode.pluginRejected
    }
}
