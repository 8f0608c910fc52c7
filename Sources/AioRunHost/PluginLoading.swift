#if canImport(Glibc)
import Glibc
#endif

extension Host {
    /// Steps 1–4 of DESIGN §3 for every argument, in order, before anything is created.
    static func loadAll(_ arguments: [PluginArgument], allowInsecure: Bool) throws(PluginLoadError) -> [LoadedPlugin] {
        let resolver = PluginResolver(
            environmentPath: environment("AIORUN_PLUGIN_PATH"),
            hostBinaryFolder: PluginResolver.hostBinaryFolder)
        var loaded: [LoadedPlugin] = []
        for argument in arguments {
            let path: String
            do {
                path = try resolver.resolve(argument.target)
            } catch let error where argument.origin != nil {
                // A plugin named in a config file that cannot be found is a mistake in that file.
                throw PluginLoadError(path: argument.target, step: .resolve, reason: error.reason, usage: argument.origin)
            }
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
