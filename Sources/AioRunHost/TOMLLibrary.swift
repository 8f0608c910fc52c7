#if canImport(Glibc)
import Glibc
#endif

/// The host's way to libAioRunTOML.so, which holds the TOML parser (TOMLKit, and with it
/// Foundation). The library is loaded only in a child process (``TOMLChild``), for two reasons:
/// the parser (toml++) aborts on some malformed files (an `assert` on a table header with no
/// name, such as `[` alone on a line), and such an abort must end the child, not the host
/// (README, Failure modes); and a start without a config file never maps Foundation.
enum TOMLLibrary {
    /// The library's file name. It is looked for beside the host binary, where SwiftPM builds it.
    static let fileName = "libAioRunTOML.so"

    /// How long the child may take to parse a file before it is killed.
    static let timeLimit: Duration = .seconds(30)

    /// The library's `aiorun_toml_parse` (see Sources/AioRunTOML/TOMLExport.swift).
    typealias Parse =
        @convention(c) (
            UnsafePointer<UInt8>, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<Int>
        ) -> Int32

    /// Why the library could not be loaded, as one line.
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses `bytes`, the contents of the config file `path` (for messages), in a child process.
    static func parse(_ bytes: [UInt8], path: String) throws(HostUsageError) -> ConfigTable {
        let outcome = try runChild(bytes, path: path)
        let output = outcome.output
        switch outcome.status {
        case .exited(TOMLChild.Result.document.rawValue):
            guard let table = ConfigValue.decodeDocument(output) else {
                throw HostUsageError(
                    "--config \(path): cannot use the parsed document: it nests tables or arrays more than \(ConfigValue.maximumDepth) levels deep, or \(fileName) is from another build"
                )
            }
            return table
        case .exited(TOMLChild.Result.syntaxError.rawValue):
            let message = String(decoding: output, as: UTF8.self)
            let parts = message.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            let line = parts.count == 2 && Int(parts[0]).map({ $0 > 0 }) == true ? String(parts[0]) : "?"
            let reason = (parts.last.map(String.init) ?? message).split(whereSeparator: \.isNewline).joined(
                separator: " "
            )
            throw HostUsageError("--config \(path):\(line): \(reason)")
        case .exited(TOMLChild.Result.outOfMemory.rawValue):
            throw HostUsageError("--config \(path): the TOML reader ran out of memory")
        case .exited(TOMLChild.Result.noReader.rawValue):
            throw HostUsageError("--config \(path): \(String(decoding: output, as: UTF8.self))")
        case .signaled, .timedOut:
            // Each probe gets at most the locator's whole budget, so locating stays bounded
            // (about twice that at worst) even when a prefix makes the reader hang.
            throw TOMLCrashLocator.error(for: outcome.status, bytes: bytes, path: path) { prefix in
                (try? runChild(prefix, path: path, timeout: TOMLCrashLocator.timeBudget))?.status
            }
        case .exited:
            let detail = outcome.lastErrorLine.map { ": \($0)" } ?? ""
            throw HostUsageError("--config \(path): the TOML reader failed (\(outcome.status))\(detail)")
        }
    }

    /// Runs the TOML child on `bytes`, bounded by `timeout` (``timeLimit`` unless told).
    private static func runChild(
        _ bytes: [UInt8],
        path: String,
        timeout: Duration = timeLimit
    ) throws(HostUsageError) -> SelfChild.Outcome {
        do {
            return try SelfChild.run(mode: TOMLChild.mode, input: bytes, timeout: timeout)
        } catch {
            throw HostUsageError("--config \(path): cannot run the TOML reader: \(error.description)")
        }
    }

    /// For the child: loads the library from beside the host binary and finds its entry.
    static func loadParser() -> Result<Parse, Unavailable> {
        guard let folder = PluginResolver.hostBinaryFolder else {
            return .failure(Unavailable(description: "cannot find the host binary's folder to load \(fileName) from"))
        }
        let library = folder + "/" + fileName
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(
                Unavailable(
                    description:
                        "cannot load the TOML reader \(library): \(reason); it is built with the host (swift build) and installed beside it"
                )
            )
        }
        guard let symbol = dlsym(handle, "aiorun_toml_parse") else {
            return .failure(
                Unavailable(description: "\(library) has no aiorun_toml_parse; it does not belong to this host")
            )
        }
        return .success(unsafeBitCast(symbol, to: Parse.self))
    }
}
