import AioRun

/// An error the host ends with: one line for stderr and the exit code it means (README, Exit
/// codes). Every error of the host converts to it (``HostErrorConvertible``), so the exit code is
/// decided where the error is made, never by looking at its type afterwards.
public struct HostError: Error, CustomStringConvertible, Sendable {
    /// The process's exit code for this error: 64 (usage) or 65 (plugin rejected).
    public let exitCode: Int32
    /// The one-line message, without the `aiorun-host: error: ` prefix.
    public let description: String

    init(exitCode: Int32, _ description: String) {
        self.exitCode = exitCode
        self.description = description
    }

    /// Writes the line in `format` (`aiorun-host: error: …`) and returns the exit code.
    func report(format: LogFormat) -> Int32 {
        HostLogHandler.writeError(description, format: format)
        return exitCode
    }
}

/// An error of the host that says which ``HostError`` it is.
protocol HostErrorConvertible: Error {
    /// This error as its line and exit code.
    var hostError: HostError { get }
}

extension HostUsageError: HostErrorConvertible {
    /// A usage error: exit 64.
    var hostError: HostError { HostError(exitCode: AioRunExitCode.usage, description) }
}

extension PluginLoadError: HostErrorConvertible {
    /// A mistake in the host's input (``usage`` set): exit 64, the line led by where it is;
    /// otherwise a rejected plugin: exit 65.
    var hostError: HostError {
        guard let usage else { return HostError(exitCode: AioRunExitCode.pluginRejected, description) }
        return HostError(exitCode: AioRunExitCode.usage, "\(usage): plugin \(path): \(reason)")
    }
}

extension LoadTimeLimitError: HostErrorConvertible {
    /// A plugin rejected for its time: exit 65.
    var hostError: HostError { HostError(exitCode: AioRunExitCode.pluginRejected, description) }
}
