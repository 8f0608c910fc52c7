#if canImport(Glibc)
import Glibc
#endif

/// The first loading step, `resolve`: turns a plugin argument into an absolute path (README,
/// Command line).
///
/// A target containing `/` is a path (relative to the working directory). A bare name `foo` is
/// searched as `libfoo.so` (or as itself if it already ends in `.so`) along `AIORUN_PLUGIN_PATH`,
/// then beside the host binary. The working directory is never searched implicitly.
struct PluginResolver: Sendable {
    /// Folders searched for bare names, in order.
    let searchPath: [String]

    /// Builds the search path from `AIORUN_PLUGIN_PATH` and the host binary's folder.
    init(environmentPath: String?, hostBinaryFolder: String?) {
        var folders = (environmentPath ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        if let hostBinaryFolder { folders.append(hostBinaryFolder) }
        searchPath = folders
    }

    /// The absolute, symlink-free path for `target`.
    func resolve(_ target: String) throws(PluginLoadError) -> String {
        if target.contains("/") {
            return try absolute(target, shownAs: target)
        }
        let file = target.hasSuffix(".so") ? target : "lib\(target).so"
        for folder in searchPath {
            let candidate = folder.hasSuffix("/") ? folder + file : folder + "/" + file
            if access(candidate, F_OK) == 0 {
                return try absolute(candidate, shownAs: candidate)
            }
        }
        let searched = searchPath.isEmpty ? "(empty search path)" : searchPath.joined(separator: ":")
        throw PluginLoadError(
            path: target,
            step: .resolve,
            reason: "no \(file) in AIORUN_PLUGIN_PATH or beside the host; searched \(searched)"
        )
    }

    private func absolute(_ path: String, shownAs shown: String) throws(PluginLoadError) -> String {
        guard let resolved = realpath(path, nil) else {
            throw PluginLoadError(path: shown, step: .resolve, reason: String(cString: strerror(errno)))
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The folder holding the running host binary, from `/proc/self/exe`.
    static var hostBinaryFolder: String? {
        guard let exe = realpath("/proc/self/exe", nil) else { return nil }
        defer { free(exe) }
        let path = String(cString: exe)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}
