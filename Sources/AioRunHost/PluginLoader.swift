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
            let found = lookalikes.isEmpty ? "" : "; exports that look like entries: \(lookalikes.joined(separator: ", "))"
            throw PluginLoadError(
                path: path, step: .entrySymbol,
                reason: "no aiorun_plugin_entry symbol; export it with @c(aiorun_plugin_entry) (see README, plugin author's guide)\(found)")
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
                path: path, step: .handshake,
                reason: "aiorun_plugin_entry returned NULL although the ABI matches (\(hostABI))")
        }
        let object = Unmanaged<AnyObject>.fromOpaque(raw).takeRetainedValue()
        guard let descriptor = object as? PluginDescriptor else {
            throw PluginLoadError(
                path: path, step: .descriptor,
                reason: "the entry returned a \(type(of: object)), not AioRunPluginAPI.PluginDescriptor; does the plugin link its own copy of the API instead of libAioRunPluginAPI.so?")
        }
        guard descriptor.abi == hostABI else {
            throw PluginLoadError(
                path: path, step: .descriptor,
                reason: "descriptor says ABI \(descriptor.abi), host provides \(hostABI)")
        }
        return descriptor
    }

    static func lastDLError() -> String {
        guard let message = dlerror() else { return "unknown dlopen error" }
        return String(cString: message)
    }
}

/// The host's start-up self-check (README, Failure modes, step `API self-check`): the loaded libAioRunPluginAPI.so must report the
/// ABI the host was compiled with. Asked through a C symbol found with `dlsym`, because a Swift
/// call would be inlined in release builds and always agree.
enum APISelfCheck {
    typealias ABIFunction = @convention(c) () -> UInt32

    static func verify() throws(PluginLoadError) {
        // Where the library was mapped is only needed to name it in an error: reading
        // `/proc/self/maps` on every start cost about 0.7 ms here.
        var library: String { loadedLibraryPath() ?? "libAioRunPluginAPI.so" }
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "aiorun_api_abi") else {
            throw PluginLoadError(
                path: library, step: .apiSelfCheck,
                reason: "the loaded API library has no aiorun_api_abi symbol; it is not a matching libAioRunPluginAPI.so (check LD_LIBRARY_PATH)")
        }
        let loaded = unsafeBitCast(symbol, to: ABIFunction.self)()
        guard loaded == AIORUN_PLUGIN_ABI else {
            throw PluginLoadError(
                path: library, step: .apiSelfCheck,
                reason: "the loaded libAioRunPluginAPI.so provides ABI \(loaded), this host was built with ABI \(AIORUN_PLUGIN_ABI) (check LD_LIBRARY_PATH)")
        }
    }

    /// Where the dynamic linker mapped libAioRunPluginAPI.so, read from `/proc/self/maps`
    /// (glibc's `dladdr` is not visible to Swift without `_GNU_SOURCE`).
    static func loadedLibraryPath() -> String? {
        guard let maps = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(maps) }
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), maps) != nil {
            let line = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if line.contains("libAioRunPluginAPI.so"), let slash = line.firstIndex(of: "/") {
                return String(line[slash...]).split(separator: "\n").first.map(String.init) ?? ""
            }
        }
        return nil
    }
}
