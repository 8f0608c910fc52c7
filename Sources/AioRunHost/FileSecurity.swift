#if canImport(Glibc)
import Glibc
#endif

/// Refuses plugin files that someone other than root or the host's own user could have replaced,
/// as OpenSSH's StrictModes does: the file, or the folder holding it, writable by group or
/// others, or owned by another non-root user. `--allow-insecure-plugins` turns this off.
enum FileSecurity {
    /// Checks the plugin file (already `fstat`ed by ``ELFCheck``) and the folder holding it.
    static func verify(file: stat, path: String) throws(PluginLoadError) {
        try verify(file, what: "the file", plugin: path)
        let folder = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        var info = stat()
        guard stat(folder, &info) == 0 else {
            throw PluginLoadError(
                path: path,
                step: .checkFile,
                reason: "cannot stat its folder \(folder): \(String(cString: strerror(errno)))"
            )
        }
        try verify(info, what: "its folder \(folder)", plugin: path)
    }

    /// The host's effective user, asked once.
    private static let me = geteuid()

    private static func verify(_ info: stat, what: String, plugin: String) throws(PluginLoadError) {
        let hint = "fix it or pass --allow-insecure-plugins"
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw PluginLoadError(
                path: plugin,
                step: .checkFile,
                reason:
                    "\(what) is writable by group or others (mode 0\(mode)), so others could replace the code the host runs; \(hint)"
            )
        }
        if info.st_uid != 0 && info.st_uid != me {
            throw PluginLoadError(
                path: plugin,
                step: .checkFile,
                reason:
                    "\(what) is owned by \(userName(info.st_uid)), neither root nor the user running the host (\(userName(me))); \(hint)"
            )
        }
    }

    private static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }
}
