import Logging

/// Everything the host needs, already parsed and validated by the CLI.
public struct HostConfiguration: Sendable {
    /// The plugins, in load order.
    public var plugins: [PluginArgument]
    /// Each plugin's time limit for teardown phases 1–4.
    public var taskShutdownTimeout: Duration
    /// Each plugin's executor pool size.
    public var executorWorkers: Int
    /// Whether an unhandled error stops the host with exit code 1.
    public var stopOnUnhandledErrors: Bool
    /// Per-plugin config from `--set NAME.KEY=VALUE`, by plugin name.
    public var settings: [String: [String: String]]
    /// The least severe level logged.
    public var logLevel: Logger.Level
    /// What the host does with the plugins.
    public enum Mode: Sendable {
        /// Load, check, create and run them (the default).
        case run
        /// Load, check and create them, print one line each, run nothing (`--check`).
        case check
        /// Like `check` for one plugin, with its entry and needed libraries (`--inspect`).
        case inspect
    }

    /// What the host does with the plugins.
    public var mode = Mode.run
    /// How log lines are written (`--log-format`).
    public var logFormat = LogFormat.text
    /// Whether plugin files writable or owned by others are accepted (`--allow-insecure-plugins`).
    public var allowInsecurePlugins = false
    /// Whether every plugin is first loaded in a throwaway child process (`--preflight`; always
    /// for `--check` and `--inspect`), so that a file that crashes the dynamic loader is refused
    /// instead of ending the host.
    public var preflight = false
    /// The time limit for loading and creating all plugins (`--load-timeout`).
    public var loadTimeout: Duration = .seconds(60)

    /// Creates a configuration.
    public init(
        plugins: [PluginArgument], taskShutdownTimeout: Duration, executorWorkers: Int,
        stopOnUnhandledErrors: Bool, settings: [String: [String: String]], logLevel: Logger.Level
    ) {
        self.plugins = plugins
        self.taskShutdownTimeout = taskShutdownTimeout
        self.executorWorkers = executorWorkers
        self.stopOnUnhandledErrors = stopOnUnhandledErrors
        self.settings = settings
        self.logLevel = logLevel
    }

    /// Parses one `--set NAME.KEY=VALUE` into this configuration.
    public mutating func addSetting(_ text: String) throws(HostUsageError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw HostUsageError("--set \(text): expected NAME.KEY=VALUE (no \"=\")")
        }
        let path = text[..<equals]
        let value = String(text[text.index(after: equals)...])
        guard let dot = path.firstIndex(of: ".") else {
            throw HostUsageError("--set \(text): expected NAME.KEY=VALUE (no plugin name before \".\")")
        }
        let name = String(path[..<dot])
        let key = String(path[path.index(after: dot)...])
        guard PluginName.isValid(name) else { throw HostUsageError("--set \(text): \"\(name)\" \(PluginName.rule)") }
        guard !key.isEmpty else { throw HostUsageError("--set \(text): empty KEY") }
        settings[name, default: [:]][key] = value
    }
}
