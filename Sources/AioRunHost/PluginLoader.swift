import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// The loading steps `dlopen`, `entry symbol`, `handshake` and `descriptor` for one library
/// (README, Failure modes). Libraries are never closed (RTLD_NODELETE, and no `dlclose`).
enum PluginLoader {
    typealias Entry = @convention(c) (UInt32, UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?

    /// Loads `path`, already checked by ``ELFCheck`` (and perhaps by ``PluginPreflight``), and
    /// returns the descriptor its entry hands over.
    static func open(path: String) throws(PluginLoadError) -> PluginDescriptor {
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw PluginLoadError(path: path, step: .dlopen, reason: SymbolNames.demangleInMessage(lastDLError()))
        }

        _ = dlerror()
        guard let symbol = dlsym(handle, "aiorun_plugin_entry") else {
            let lookalikes = ELFImage(path: path)?.entryLikeExports ?? []
            let found =
                lookalikes.isEmpty ? "" : "; exports that look like entries: \(lookalikes.joined(separator: ", "))"
            throw PluginLoadError(
                path: path,
                step: .entrySymbol,
                reason:
                    "no aiorun_plugin_entry symbol; export it with @c(aiorun_plugin_entry) (see README, plugin author's guide)\(found)"
            )
        }
        let entry = unsafeBitCast(symbol, to: Entry.self)

        let hostABI = AIORUN_PLUGIN_ABI
        var pluginABI: UInt32 = 0
        let raw = entry(hostABI, &pluginABI)
        // Compare the numbers before touching anything the plugin returned.
        guard pluginABI == hostABI else {
            let reported = pluginABI == 0 ? "did not report its ABI number" : "built against ABI \(pluginABI)"
            throw PluginLoadError(path: path, step: .handshake, reason: "plugin \(reported), host provides \(hostABI)")
        }
        guard let raw else {
            throw PluginLoadError(
                path: path,
                step: .handshake,
                reason: "aiorun_plugin_entry returned NULL although the ABI matches (\(hostABI))"
            )
        }
        let object = Unmanaged<AnyObject>.fromOpaque(raw).takeRetainedValue()
        guard let descriptor = object as? PluginDescriptor else {
            throw PluginLoadError(
                path: path,
                step: .descriptor,
                reason:
                    "the entry returned a \(type(of: object)), not AioRunPluginAPI.PluginDescriptor; does the plugin link its own copy of the API instead of libAioRunPluginAPI.so?"
            )
        }
        guard descriptor.abi == hostABI else {
            throw PluginLoadError(
                path: path,
                step: .descriptor,
                reason: "descriptor says ABI \(descriptor.abi), host provides \(hostABI)"
            )
        }
        return descriptor
    }

    static func lastDLError() -> String {
        guard let message = dlerror() else { return "unknown dlopen error" }
        return String(cString: message)
    }
}
