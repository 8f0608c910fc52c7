// TEMPORARY, for this branch only: delete this file when PluginLoading.swift's `loadAll` gains
// its defaulted `onStep` parameter (the two would clash). Same steps as `loadAll`, plus
// `onStep("loading <path>")` before each plugin's file is checked and opened.

extension Host {
    /// `loadAll`, telling `onStep` which plugin it is about to load.
    static func loadAll(
        _ arguments: [PluginArgument], allowInsecure: Bool, onStep: (String) -> Void
    ) throws(PluginLoadError) -> [LoadedPlugin] {
        let resolver = PluginResolver(
            environmentPath: environment("AIORUN_PLUGIN_PATH"),
            hostBinaryFolder: PluginResolver.hostBinaryFolder)
        var loaded: [LoadedPlugin] = []
        for argument in arguments {
            let path: String
            do {
                path = try resolver.resolve(argument.target)
            } catch let error where argument.origin != nil {
                throw PluginLoadError(path: argument.target, step: .resolve, reason: error.reason, usage: argument.origin)
            }
            onStep("loading \(path)")
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
            loaded.append(LoadedPlugin(name: name, path: path, descriptor: descriptor, argument: argument))
        }
        return loaded
    }
}
