import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// What `--check` and `--inspect` print on stdout (README, Command line): one line per plugin that
/// passed every check, and for `--inspect` its entry, the libraries it needs and its run path.
enum CheckReport {
    /// How long the report may wait for stdout's reader.
    static let writeTimeLimit: Duration = .seconds(5)

    /// Writes the report for the plugins that were created and returns the exit code: 0 only when
    /// every plugin on the command line was checked and the report was written. A check cut
    /// short by a signal ends with 128+N, by another shutdown trigger with 65, and a report that
    /// could not be written with 74 (README, Exit codes).
    static func finish(
        _ plugins: PreparedPlugins,
        of configuration: HostConfiguration,
        manager: LifecycleManager
    ) -> Int32 {
        let created = Set(plugins.units.map(\.context.name))
        let checked = plugins.loaded.filter { created.contains($0.name) }
        if let failure = write(checked, settings: configuration.settings, detailed: configuration.mode == .inspect) {
            return HostError(
                exitCode: AioRunExitCode.outputFailed,
                "cannot write the check report to stdout: \(failure)"
            )
            .report(format: configuration.logFormat)
        }
        let trigger = manager.shutdownRequested
        var signalled = false
        if case .signal? = trigger { signalled = true }
        // A check that a signal reached never passes, even when its last step had finished:
        // whoever sent it wanted it stopped (systemd's start timeout, say).
        guard checked.count < configuration.plugins.count || signalled else { return AioRunExitCode.clean }
        var code = AioRunExitCode.pluginRejected
        if case .signal(_, let number)? = trigger { code = AioRunExitCode.forced(by: number) }
        let cause = trigger.map { "\($0)" } ?? "a shutdown request"
        return HostError(
            exitCode: code,
            "check interrupted by \(cause): \(checked.count) of \(configuration.plugins.count) plugins checked"
                + (checked.count < configuration.plugins.count ? "; the others are not known to be good" : "")
        )
        .report(format: configuration.logFormat)
    }

    /// Writes the report for `plugins` (`detailed` for `--inspect`), each line saying whether
    /// `settings` isolate the plugin (README, Isolation). Returns nil when it was written, else
    /// why not.
    static func write(_ plugins: [LoadedPlugin], settings: PluginSettings, detailed: Bool) -> String? {
        var text = ""
        for plugin in plugins {
            let image = ELFImage(path: plugin.path)
            let isolated = settings.isolation(for: plugin.name, argument: plugin.argument) != nil
            text += line(for: plugin, image: image, isolated: isolated)
            guard detailed, let image else { continue }
            let entry = image.definedDynamicSymbols.first { $0.name == "aiorun_plugin_entry" }
            text += "  entry: aiorun_plugin_entry at 0x\(String(entry?.value ?? 0, radix: 16))\n"
            text += "  needs: \(image.neededLibraries.joined(separator: ", "))\n"
            text += "  runpath: \(image.runPath.isEmpty ? "(none)" : image.runPath.joined(separator: ":"))\n"
        }
        return writeToStandardOutput(Array(text.utf8), within: writeTimeLimit)
    }

    /// The report's line for `plugin`, whose file is `image`, with its newline: `ok NAME path=…
    /// abi=… api=… toolchain="…" readiness=… isolated=yes|no`, its fields always in this order.
    static func line(for plugin: LoadedPlugin, image: ELFImage?, isolated: Bool) -> String {
        let toolchain = image?.swiftToolchain ?? "unknown (not recorded in the file)"
        let descriptor = plugin.descriptor
        let readiness = descriptor.readiness == .whenReported ? "when-reported" : "at-start"
        return "ok \(plugin.name) path=\(plugin.path) abi=\(descriptor.abi) api=\(descriptor.apiVersion)"
            + " toolchain=\"\(toolchain)\" readiness=\(readiness) isolated=\(isolated ? "yes" : "no")\n"
    }

    /// Writes `bytes` to fd 1 in pieces no larger than a pipe's atomic size, each after `poll`
    /// says it will not block, so a reader that never reads costs at most `limit`, never a hang.
    /// Plugins' earlier `print`s are flushed first (stdout is line-buffered).
    private static func writeToStandardOutput(_ bytes: [UInt8], within limit: Duration) -> String? {
        fflush(nil)
        let deadline = ContinuousClock.now + limit
        var offset = 0
        while offset < bytes.count {
            let left = deadline - .now
            guard left > .zero else { return "its reader took no output for \(limit)" }
            let (seconds, attoseconds) = left.components
            var target = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&target, 1, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = min(bytes.count - offset, Int(PIPE_BUF))
            let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, count) }
            if written < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard written > 0 else { return String(cString: strerror(errno)) }
            offset += written
        }
        return nil
    }
}
