import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// A plugin that passed every loading check: its final name, where it came from, its descriptor.
struct LoadedPlugin: Sendable {
    /// The instance's name: the alias if given, else the descriptor's name.
    let name: String
    /// The absolute path of the library.
    let path: String
    /// The descriptor its entry returned.
    let descriptor: PluginDescriptor
    /// The argument it was loaded from.
    let argument: PluginArgument
}

extension Host {
    /// The loading steps (README, Failure modes) for every argument, before anything is
    /// created: every argument is resolved and its file checked (``ELFCheck``, once per file)
    /// first; then, with `preflight`, all files are loaded once in a throwaway child
    /// (``PluginPreflight``, bounded by `loadTimeout`), so that a file that crashes the loader is
    /// refused before the host maps anything; then each is loaded here, in order. `onStep` is
    /// told before each step what the host is about to wait for (the step, `load` or
    /// `pre-flight`, and its subject: the file, or which files the pre-flight loads), and
    /// `loaded` after each plugin's library is loaded, with the plugin's name (the signal guard
    /// blames that plugin for a disposition its library constructors changed).
    static func loadAll(
        _ arguments: [PluginArgument],
        allowInsecure: Bool,
        preflight: Bool = false,
        loadTimeout: Duration = .seconds(60),
        onStep: (_ step: String, _ subject: String) -> Void = { _, _ in },
        loaded onLoaded: (String) -> Void = { _ in },
        stopRequested: () -> Bool = { false }
    ) throws(PluginLoadError) -> [LoadedPlugin] {
        let resolver = PluginResolver(
            environmentPath: ProcessEnvironment.value("AIORUN_PLUGIN_PATH"),
            hostBinaryFolder: PluginResolver.hostBinaryFolder
        )
        var paths: [String] = []
        var checked: Set<String> = []
        for argument in arguments {
            let path: String
            do {
                path = try resolver.resolve(argument.target)
            } catch let error where argument.origin != nil {
                // A plugin named in a config file that cannot be found is a mistake in that file.
                throw PluginLoadError(
                    path: argument.target,
                    step: .resolve,
                    reason: error.reason,
                    usage: argument.origin
                )
            }
            if checked.insert(path).inserted {
                try ELFCheck.verify(path, allowInsecure: allowInsecure)
            }
            paths.append(path)
        }

        StartupSteps.end(.fileChecks)
        if preflight {
            var unique: [String] = []
            var seen: Set<String> = []
            for path in paths where seen.insert(path).inserted { unique.append(path) }
            onStep(
                "pre-flight",
                "pre-flight loading \(unique.count) plugin file\(unique.count == 1 ? "" : "s") in a child process"
            )
            try PluginPreflight.verify(unique, timeout: loadTimeout)
        }

        var loaded: [LoadedPlugin] = []
        for (argument, path) in zip(arguments, paths) {
            // A signal meanwhile: no further library's constructors are run (README, "How
            // shutdown proceeds"); nothing will be started anyway.
            if stopRequested() { break }
            onStep("load", path)
            let descriptor = try PluginLoader.open(path: path)
            guard PluginName.isValid(descriptor.name) else {
                throw PluginLoadError(path: path, step: .name, reason: "\"\(descriptor.name)\" \(PluginName.rule)")
            }
            let name = argument.alias ?? descriptor.name
            if let clash = loaded.first(where: { $0.name == name }) {
                throw PluginLoadError(
                    path: path,
                    step: .name,
                    reason:
                        "a plugin named \(name) is already loaded from \(clash.path); load it again as alias=\(argument.target)"
                )
            }
            onLoaded(name)
            loaded.append(LoadedPlugin(name: name, path: path, descriptor: descriptor, argument: argument))
        }
        StartupSteps.end(.loading)
        return loaded
    }
}
