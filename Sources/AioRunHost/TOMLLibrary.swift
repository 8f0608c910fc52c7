#if canImport(Glibc)
import Glibc
#endif

/// The host's way to libAioRunTOML.so, which holds the TOML parser (TOMLKit, and with it
/// Foundation). It is loaded on the first `--config`, so a start without a config file never maps
/// Foundation: about 7 ms less start-up here.
enum TOMLLibrary {
    /// The library's file name. It is looked for beside the host binary, where SwiftPM builds it.
    static let fileName = "libAioRunTOML.so"

    private typealias Parse = @convention(c) (
        UnsafePointer<UInt8>, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<Int>
    ) -> Int32

    /// Parses `text`, read from the config file `path` (for messages).
    static func parse(_ text: String, path: String) throws(HostUsageError) -> ConfigTable {
        let parse = try entry(path: path)
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0] }
        var result: UnsafeMutableRawPointer?
        var length = 0
        let status = bytes.withUnsafeBufferPointer { parse($0.baseAddress!, text.utf8.count, &result, &length) }
        guard let result else { throw HostUsageError("--config \(path): the TOML reader ran out of memory") }
        defer { free(result) }
        let output = Array(UnsafeRawBufferPointer(start: result, count: length))
        switch status {
        case 0:
            guard let table = ConfigValue.decodeDocument(output) else {
                throw HostUsageError(
                    "--config \(path): cannot use the parsed document: it nests tables or arrays more than \(ConfigValue.maximumDepth) levels deep, or \(fileName) is from another build")
            }
            return table
        case 1:
            let message = String(decoding: output, as: UTF8.self)
            let parts = message.split(separator: "\t", maxSplits: 1)
            let line = parts.count == 2 ? String(parts[0]) : "?"
            throw HostUsageError("--config \(path):\(line): \(parts.last.map(String.init) ?? message)")
        default:
            throw HostUsageError("--config \(path): the TOML reader failed (status \(status))")
        }
    }

    private static func entry(path: String) throws(HostUsageError) -> Parse {
        guard let folder = PluginResolver.hostBinaryFolder else {
            throw HostUsageError("--config \(path): cannot find the host binary's folder to load \(fileName) from")
        }
        let library = folder + "/" + fileName
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw HostUsageError("--config \(path): cannot load the TOML reader \(library): \(reason); it is built with the host (swift build) and installed beside it")
        }
        guard let symbol = dlsym(handle, "aiorun_toml_parse") else {
            throw HostUsageError("--config \(path): \(library) has no aiorun_toml_parse; it does not belong to this host")
        }
        return unsafeBitCast(symbol, to: Parse.self)
    }
}
