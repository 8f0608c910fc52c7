/// How one plugin instance runs when it is isolated (README, "Isolation"): in a child process of
/// its own, with these limits, which only a process of its own can have.
struct IsolationSettings: Sendable, Equatable {
    /// The most resident memory the child may use, in bytes; nil for no limit. The parent samples
    /// the child's resident set and kills it, naming the limit, when it is exceeded.
    var memoryLimit: Int?
    /// The child's limit of open file descriptors (`RLIMIT_NOFILE`); nil to inherit the host's.
    var openFilesLimit: Int?

    /// No limits.
    init(memoryLimit: Int? = nil, openFilesLimit: Int? = nil) {
        self.memoryLimit = memoryLimit
        self.openFilesLimit = openFilesLimit
    }
}

extension PluginSettings {
    /// How the plugin instance `name` loaded from `argument` is isolated, or nil when it runs in
    /// the host's process. Filled in with the `isolate`, `memory-limit` and `open-files-limit`
    /// options (README, Command line), each resolved as ``values(for:argument:)`` says; the
    /// built-in default is no isolation, and no limit.
    func isolation(for name: String, argument: PluginArgument) -> IsolationSettings? {
        let values = values(for: name, argument: argument)
        guard values.isolate ?? false else { return nil }
        return IsolationSettings(memoryLimit: values.memoryLimit, openFilesLimit: values.openFilesLimit)
    }

    /// The end of the message for a limit that applies to no isolated plugin (README, Command
    /// line): what would isolate it.
    static let limitsNeedIsolation = "limits need --isolate or isolate = true"
}
