/// What `--check` and `--inspect` print on stdout (README, Command line): one line per plugin that
/// passed every check, and for `--inspect` its entry, the libraries it needs and its run path.
enum CheckReport {
    /// Prints the report for `plugins`; `detailed` for `--inspect`.
    static func write(_ plugins: [LoadedPlugin], detailed: Bool) {
        for plugin in plugins {
            let image = ELFImage(path: plugin.path)
            let toolchain = image?.swiftToolchain ?? "unknown (not recorded in the file)"
            let descriptor = plugin.descriptor
            print(
                "ok \(plugin.name) path=\(plugin.path) abi=\(descriptor.abi) api=\(descriptor.apiVersion)"
                    + " toolchain=\"\(toolchain)\"")
            guard detailed, let image else { continue }
            let entry = image.definedDynamicSymbols.first { $0.name == "aiorun_plugin_entry" }
            print("  entry: aiorun_plugin_entry at 0x\(String(entry?.value ?? 0, radix: 16))")
            print("  needs: \(image.neededLibraries.joined(separator: ", "))")
            print("  runpath: \(image.runPath.isEmpty ? "(none)" : image.runPath.joined(separator: ":"))")
        }
    }
}
