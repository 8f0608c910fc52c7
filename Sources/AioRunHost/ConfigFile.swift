import Logging

/// `--config FILE`: the host's options and its plugins in load order, in TOML (see README,
/// Command line).
///
///     task-shutdown-timeout = 30          # host options, as on the command line
///     log-format = "json"
///     restart = "on-failure"              # every plugin's default, as on the command line
///     isolate = true                      # every plugin in a child process of its own
///     memory-limit = "512M"               # every isolated plugin's default; also open-files-limit
///
///     [[plugin]]
///     load = "hello"                      # a path or a bare name, as on the command line
///     alias = "greeter"                   # optional
///     task-shutdown-timeout = 5           # optional, this plugin's own time limit
///     executor-workers = 2                # optional, this plugin's own pool size
///     startup-timeout = 10                # optional, also restart, restart-max, restart-window
///     isolate = false                     # optional, this plugin's own; also memory-limit,
///                                         # open-files-limit (only for an isolated plugin)
///     [plugin.config]                     # optional, like --set greeter.KEY=VALUE
///     greeting = "hi"
///
/// The file is read once (so `/dev/stdin` and pipes work) and parsed by TOMLKit in a child
/// process (see ``TOMLLibrary``). Values follow the same ``HostOptionRules`` as the command
/// line. Bad bytes, a syntax error, an unknown key, a wrong type or a plugin that cannot be
/// found is a usage error naming the file, the line and the key.
struct ConfigFile: Sendable {
    /// One `[[plugin]]` entry.
    struct Plugin: Sendable {
        /// What to load, with its alias, its own time limit, pool size and config.
        var argument: PluginArgument
        /// Where the entry starts, for messages.
        var line: Int
        /// Where the entry sets `memory-limit` and `open-files-limit`, by key, for the message
        /// when the plugin is not isolated: `--config f.toml:9: key "memory-limit" in [[plugin]] #1`.
        var limitOrigins: [String: String] = [:]
    }

    /// `task-shutdown-timeout`, if set.
    var taskShutdownTimeout: Duration?
    /// `executor-workers`, if set.
    var executorWorkers: Int?
    /// `stop-on-unhandled-errors`, if set.
    var stopOnUnhandledErrors: Bool?
    /// `log-level`, if set.
    var logLevel: Logger.Level?
    /// `log-format`, if set.
    var logFormat: LogFormat?
    /// `allow-insecure-plugins`, if set.
    var allowInsecurePlugins: Bool?
    /// `preflight`, if set.
    var preflight: Bool?
    /// `load-timeout`, if set.
    var loadTimeout: Duration?
    /// `concurrent-start`, if set.
    var concurrentStart: Bool?
    /// `drain-delay`, if set.
    var drainDelay: Duration?
    /// The top-level `startup-timeout`, `restart`, `restart-max`, `restart-window`, `isolate`,
    /// `memory-limit` and `open-files-limit`: every plugin's defaults.
    var pluginDefaults = PluginOptionValues()
    /// Where the top level sets `memory-limit` and `open-files-limit`, by key, for the message
    /// when no plugin is isolated: `--config f.toml:2: key "memory-limit"`.
    var limitOrigins: [String: String] = [:]
    /// The plugins, in load order.
    var plugins: [Plugin] = []
    /// The file's path, for messages.
    let path: String

    /// The largest config file read.
    static let sizeLimit = 16 << 20

    /// The top-level keys, in the order messages list them: the host options, then `plugin`.
    static let hostKeys =
        [
            HostOptionRules.taskShutdownTimeout.name, HostOptionRules.executorWorkers.name,
            HostOptionRules.stopOnUnhandledErrors.name, HostOptionRules.logLevel.name, HostOptionRules.logFormat.name,
            HostOptionRules.allowInsecurePlugins.name, HostOptionRules.preflight.name, HostOptionRules.loadTimeout.name,
            HostOptionRules.concurrentStart.name, HostOptionRules.drainDelay.name,
        ] + perPluginKeys + ["plugin"]
    /// The keys both levels take: a top-level one sets every plugin's default, one in a
    /// `[[plugin]]` entry that plugin's own value.
    static let perPluginKeys = [
        HostOptionRules.startupTimeout.name, HostOptionRules.restart.name, HostOptionRules.restartMax.name,
        HostOptionRules.restartWindow.name, HostOptionRules.isolate.name, HostOptionRules.memoryLimit.name,
        HostOptionRules.openFilesLimit.name,
    ]
    /// The keys of a `[[plugin]]` entry, in the order messages list them.
    static let pluginKeys =
        [
            "load", "alias", HostOptionRules.taskShutdownTimeout.name, HostOptionRules.executorWorkers.name,
        ] + perPluginKeys + ["config"]

    /// Reads `path` (once) and checks it.
    static func load(_ path: String) throws(HostUsageError) -> ConfigFile {
        let bytes = try ConfigFileBytes.read(path, limit: sizeLimit)
        try ConfigFileBytes.checkEncoding(bytes, path: path)
        let table = try TOMLLibrary.parse(bytes, path: path)
        return try read(table, text: String(decoding: bytes, as: UTF8.self), path: path)
    }

    /// Checks the parsed `table` of the file `path`, whose text is `text` (for the lines of
    /// its keys).
    static func read(_ table: ConfigTable, text: String, path: String) throws(HostUsageError) -> ConfigFile {
        var file = ConfigFile(path: path)
        try file.read(table, lines: KeyLines(text))
        return file
    }

    private init(path: String) { self.path = path }

    private func fail(_ line: Int?, _ message: String) -> HostUsageError {
        HostUsageError("--config \(path):\(line.map(String.init) ?? "?"): \(message)")
    }

    private mutating func read(_ table: ConfigTable, lines: KeyLines) throws(HostUsageError) {
        for key in table.keys.sorted() where !Self.hostKeys.contains(key) {
            throw fail(
                lines.line(of: key, in: .top),
                "unknown key \"\(key)\" (expected one of \(Self.hostKeys.joined(separator: ", ")))"
            )
        }
        let rules = HostOptionRules.self
        let at = { (key: String) in lines.line(of: key, in: .top) }
        taskShutdownTimeout = try value(table, rules.taskShutdownTimeout, at, \.seconds)
        executorWorkers = try value(table, rules.executorWorkers, at, \.int)
        stopOnUnhandledErrors = try value(table, rules.stopOnUnhandledErrors, at, \.bool)
        allowInsecurePlugins = try value(table, rules.allowInsecurePlugins, at, \.bool)
        preflight = try value(table, rules.preflight, at, \.bool)
        loadTimeout = try value(table, rules.loadTimeout, at, \.seconds)
        logLevel = try value(table, rules.logLevel, at, \.string)
        logFormat = try value(table, rules.logFormat, at, \.string)
        concurrentStart = try value(table, rules.concurrentStart, at, \.bool)
        drainDelay = try value(table, rules.drainDelay, at, \.seconds)
        pluginDefaults = try optionValues(table, at)
        limitOrigins = limitOrigins(table, at, in: nil)
        guard let entries = table["plugin"] else { return }
        guard let array = entries.array else {
            throw fail(at("plugin"), "\"plugin\" must be an array of tables: write each as [[plugin]]")
        }
        for index in array.indices {
            guard let entry = array[index].table else {
                throw fail(at("plugin"), "each \"plugin\" must be a table: write it as [[plugin]]")
            }
            plugins.append(try plugin(entry, index: index, lines: lines))
        }
    }

    private func plugin(_ table: ConfigTable, index: Int, lines: KeyLines) throws(HostUsageError) -> Plugin {
        let section = KeyLines.Section.plugin(index)
        let start = lines.header(of: index)
        let name = "[[plugin]] #\(index + 1)"
        let at = { (key: String) in lines.line(of: key, in: section) }
        for key in table.keys.sorted() where !Self.pluginKeys.contains(key) {
            throw fail(
                at(key),
                "unknown key \"\(key)\" in \(name) (expected one of \(Self.pluginKeys.joined(separator: ", ")))"
            )
        }
        guard let loadValue = table["load"] else {
            throw fail(start, "\(name) has no \"load\" key (the plugin's path or name)")
        }
        guard let target = loadValue.string, !target.isEmpty else {
            throw fail(at("load"), "key \"load\" in \(name) must be a non-empty string")
        }
        var alias: String?
        if let value = table["alias"] {
            guard let text = value.string, PluginName.isValid(text) else {
                throw fail(
                    at("alias"),
                    "key \"alias\" in \(name) must be a valid plugin name ([a-z0-9][a-z0-9_-]{0,63})"
                )
            }
            alias = text
        }
        var config: [String: String] = [:]
        if let value = table["config"] {
            guard let values = value.table else {
                throw fail(at("config"), "key \"config\" in \(name) must be a table ([plugin.config])")
            }
            config.reserveCapacity(values.keys.count)
            for key in values.keys {
                switch values[key] {
                case .string(let text)?: config[key] = text
                case .int(let number)?: config[key] = String(number)
                case .double(let number)?: config[key] = String(number)
                case .bool(let flag)?: config[key] = String(flag)
                default:
                    let line = lines.line(of: key, in: .pluginConfig(index)) ?? at("config")
                    throw fail(line, "config key \"\(key)\" in \(name) must be a string, number or boolean")
                }
            }
        }
        let rules = HostOptionRules.self
        var argument = PluginArgument(
            alias: alias,
            target: target,
            taskShutdownTimeout: try value(table, rules.taskShutdownTimeout, at, \.seconds),
            executorWorkers: try value(table, rules.executorWorkers, at, \.int),
            origin: "--config \(path):\(at("load") ?? start ?? 0): key \"load\""
        )
        argument.config = config
        argument.options = try optionValues(table, at)
        return Plugin(argument: argument, line: start ?? 0, limitOrigins: limitOrigins(table, at, in: name))
    }

    /// The per-plugin option keys of `table` (the top level or a `[[plugin]]` entry).
    private func optionValues(
        _ table: ConfigTable,
        _ line: (String) -> Int?
    ) throws(HostUsageError) -> PluginOptionValues {
        let rules = HostOptionRules.self
        return PluginOptionValues(
            startupTimeout: try value(table, rules.startupTimeout, line, \.seconds),
            restart: try value(table, rules.restart, line, \.string),
            restartMax: try value(table, rules.restartMax, line, \.int),
            restartWindow: try value(table, rules.restartWindow, line, \.seconds),
            isolate: try value(table, rules.isolate, line, \.bool),
            memoryLimit: try value(table, rules.memoryLimit, line, \.size),
            openFilesLimit: try value(table, rules.openFilesLimit, line, \.int)
        )
    }

    /// Where `table` (the top level, or the `[[plugin]]` entry `entry`) sets each limit, by key.
    private func limitOrigins(_ table: ConfigTable, _ line: (String) -> Int?, in entry: String?) -> [String: String] {
        var origins: [String: String] = [:]
        for key in [HostOptionRules.memoryLimit.name, HostOptionRules.openFilesLimit.name] where table[key] != nil {
            origins[key] =
                "--config \(path):\(line(key).map(String.init) ?? "?"): key \"\(key)\""
                + (entry.map { " in \($0)" } ?? "")
        }
        return origins
    }

    /// The value of the rule's key in `table`, nil if absent; a usage error naming the line and
    /// the key if it has the wrong type (`input` gives nil) or the rule refuses it.
    private func value<Input, Value>(
        _ table: ConfigTable,
        _ rule: OptionRule<Input, Value>,
        _ line: (String) -> Int?,
        _ input: (ConfigValue) -> Input?
    ) throws(HostUsageError) -> Value? {
        let key = rule.name
        guard let raw = table[key] else { return nil }
        guard let given = input(raw), let value = rule.value(given) else {
            throw fail(line(key), "key \"\(key)\" must be \(rule.expected)")
        }
        return value
    }
}

extension ConfigValue {
    /// A number of seconds: a float, or an integer.
    var seconds: Double? { double ?? int.map(Double.init) }
    /// A size for ``HostOptionRules/memoryLimit``: an integer (bytes), or a string such as
    /// `"512M"`.
    var size: String? { int.map(String.init) ?? string }
}
