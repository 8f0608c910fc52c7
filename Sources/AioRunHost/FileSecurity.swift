#if canImport(Glibc)
import Glibc
#endif

/// Refuses plugin files that someone other than root or the host's own user could have replaced,
/// as OpenSSH's StrictModes does: the file, or the folder holding it, writable by group or
/// others, or owned by another non-root user. `--allow-insecure-plugins` turns this off.
enum FileSecurity {
    static func verify(_ path: String) throws(PluginLoadError) {
        try verify(path, what: "the file", plugin: path)
        let folder = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        try verify(folder, what: "its folder \(folder)", plugin: path)
    }

    private static func verify(_ path: String, what: String, plugin: String) throws(PluginLoadError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw PluginLoadError(path: plugin, step: .checkFile, reason: "cannot stat \(what): \(String(cString: strerror(errno)))")
        }
        let hint = "fix it or pass --allow-insecure-plugins"
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw PluginLoadError(
                path: plugin, step: .checkFile,
                reason: "\(what) is writable by group or others (mode 0\(mode)), so others could replace the code the host runs; \(hint)")
        }
        let me = geteuid()
        if info.st_uid != 0 && info.st_uid != me {
            throw PluginLoadError(
                path: plugin, step: .checkFile,
                reason: "\(what) is owned by \(userName(info.st_uid)), neither root nor the user running the host (\(userName(me))); \(hint)")
        }
    }

    private static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }
}
