import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// The host's start-up self-check (README, Failure modes, step `API self-check`): the loaded
/// libAioRunPluginAPI.so must report the ABI the host was compiled with. Asked through a C symbol found with `dlsym`, because a Swift
/// call would be inlined in release builds and always agree.
enum APISelfCheck {
    typealias ABIFunction = @convention(c) () -> UInt32

    static func verify() throws(PluginLoadError) {
        // Where the library was mapped is only needed to name it in an error: reading
        // `/proc/self/maps` on every start cost about 0.7 ms here.
        var library: String { loadedLibraryPath() ?? "libAioRunPluginAPI.so" }
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "aiorun_api_abi") else {
            throw PluginLoadError(
                path: library,
                step: .apiSelfCheck,
                reason:
                    "the loaded API library has no aiorun_api_abi symbol; it is not a matching libAioRunPluginAPI.so (check LD_LIBRARY_PATH)"
            )
        }
        let loaded = unsafeBitCast(symbol, to: ABIFunction.self)()
        guard loaded == AIORUN_PLUGIN_ABI else {
            throw PluginLoadError(
                path: library,
                step: .apiSelfCheck,
                reason:
                    "the loaded libAioRunPluginAPI.so provides ABI \(loaded), this host was built with ABI \(AIORUN_PLUGIN_ABI) (check LD_LIBRARY_PATH)"
            )
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
