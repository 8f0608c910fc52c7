/// One plugin argument of the command line: `path`, bare `name`, or `alias=<plugin>`.
struct PluginArgument: Sendable, Equatable {
    /// The alias that renames this instance, if given as `alias=<plugin>`.
    let alias: String?
    /// What to load: a path (contains `/`) or a bare name searched as `lib<name>.so`.
    let target: String
    /// This instance's own time limit, overriding the host's (from a config file).
    var taskShutdownTimeout: Duration?
    /// This instance's own pool size, overriding the host's (from a config file).
    var executorWorkers: Int?
    /// This instance's own startup time limit and restart policy values (from a config file);
    /// the command line's `--OPTION NAME=VALUE` overrides them.
    var options = PluginOptionValues()
    /// Config values for this instance from a config file; `--set` overrides them.
    var config: [String: String] = [:]
    /// Where the argument came from when not the command line, e.g. `--config f.toml:7: key "load"`.
    var origin: String?

    /// Creates an argument directly (as a config file does).
    init(
        alias: String?,
        target: String,
        taskShutdownTimeout: Duration? = nil,
        executorWorkers: Int? = nil,
        origin: String? = nil
    ) {
        self.alias = alias
        self.target = target
        self.taskShutdownTimeout = taskShutdownTimeout
        self.executorWorkers = executorWorkers
        self.origin = origin
    }

    /// Parses one argument. An `=` before any `/` separates an alias.
    init(parsing argument: String) throws(HostUsageError) {
        if let equals = argument.firstIndex(of: "="),
            !argument[..<equals].contains("/")
        {
            let alias = String(argument[..<equals])
            let target = String(argument[argument.index(after: equals)...])
            guard PluginName.isValid(alias) else {
                throw HostUsageError("plugin argument \(argument): alias \"\(alias)\" \(PluginName.rule)")
            }
            guard !target.isEmpty else {
                throw HostUsageError("plugin argument \(argument): nothing to load after \"=\"")
            }
            self.alias = alias
            self.target = target
        } else {
            guard !argument.isEmpty else { throw HostUsageError("empty plugin argument") }
            self.alias = nil
            self.target = argument
        }
    }
}
