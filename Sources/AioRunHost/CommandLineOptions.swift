/// The host's options as the command line gives them (see README, Command line): raw values,
/// not yet checked. The CLI only fills them in; ``HostConfiguration/init(_:)`` checks them, reads
/// the config file named by `--config` and merges them over it.
public struct CommandLineOptions: Sendable {
    /// `--config FILE`.
    public var config: String?
    /// `--task-shutdown-timeout SECONDS`.
    public var taskShutdownTimeout: Double?
    /// `--executor-workers N`.
    public var executorWorkers: Int?
    /// `--stop-on-unhandled-errors`.
    public var stopOnUnhandledErrors = false
    /// `--allow-insecure-plugins`.
    public var allowInsecurePlugins = false
    /// `--set NAME.KEY=VALUE`, in order, as given.
    public var settings: [String] = []
    /// `--log-level LEVEL`.
    public var logLevel: String?
    /// `--log-format FORMAT`.
    public var logFormat: String?
    /// `--preflight`.
    public var preflight = false
    /// `--load-timeout SECONDS`.
    public var loadTimeout: Double?
    /// `--startup-timeout [NAME=]SECONDS`, in order, as given.
    public var startupTimeouts: [String] = []
    /// `--concurrent-start`.
    public var concurrentStart = false
    /// `--drain-delay SECONDS`.
    public var drainDelay: Double?
    /// `--restart [NAME=]POLICY`, in order, as given.
    public var restarts: [String] = []
    /// `--restart-max [NAME=]N`, in order, as given.
    public var restartMaxes: [String] = []
    /// `--restart-window [NAME=]SECONDS`, in order, as given.
    public var restartWindows: [String] = []
    /// `--isolate`: every plugin is isolated by default.
    public var isolate = false
    /// `--memory-limit [NAME=]SIZE`, in order, as given.
    public var memoryLimits: [String] = []
    /// `--open-files-limit [NAME=]N`, in order, as given.
    public var openFilesLimits: [String] = []
    /// `--check`.
    public var check = false
    /// `--inspect`.
    public var inspect = false
    /// The plugin arguments, in order, as given.
    public var plugins: [String] = []

    /// Creates empty options (every default).
    public init() {}
}
