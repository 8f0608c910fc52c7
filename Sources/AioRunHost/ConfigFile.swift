import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `--config FILE`: the host's options and its plugins in load order, in TOML.
///
///     task-shutdown-timeout = 30          # host options, as on the command line
///     log-format = "json"
///
///     [[plugin]]
///     load = "hello"                      # a path or a bare name, as on the command line
///     alias = "greeter"                   # optional
///     task-shutdown-timeout = 5           # optional, this plugin's own time limit
///     executor-workers = 2                # optional, this plugin's own pool size
///     [plugin.config]                     # optional, like --set greeter.KEY=VALUE
///     greeting = "hi"
///
/// TOMLKit parses the file, inside libAioRunTOML.so (see ``TOMLLibrary``). An unknown key, a
/// wrong type or a plugin that cannot be found is a usage error naming the file, line and key.
public struct ConfigFile: Sendable {
    /// One `[[plugin]]` entry.
    public struct Plugin: Sendable {
        /// What to load, with its alias, its own time limit, pool size and config.
        public var argument: PluginArgument
        /// Where the entry starts, for messages.
        public var line: Int
    }

    /// `task-shutdown-timeout`, if set.
    public var taskShutdownTimeout: Duration?
    /// `executor-workers`, if set.
    public var executorWorkers: Int?
    /// `stop-on-unhandled-errors`, if set.
    public var stopOnUnhandledErrors: Bool?
    /// `log-level`, if set.
    public var logLevel: Logger.Level?
    /// `log-format`, if set.
    public var logFormat: LogFormat?
    /// `allow-insecure-plugins`, if set.
    public var allowInsecurePlugins: Bool?
    /// The plugins, in load order.
    public var plugins: [Plugin] = []
    /// The file's path, for messages.
    public let path: String

    static let hostKeys = [
        "task-shutdown-timeout", "executor-workers", "stop-on-unhandled-errors", "log-level", "log-format",
        "allow-insecure-plugins", "plugin",
    ]
    static let pluginKeys = ["load", "alias", "task-shutdown-timeout", "executor-workers", "config"]

    /// Reads and checks `path`.
    public static func load(_ path: String) throws(HostUsageError) -> ConfigFile {
        let text = try read(path)
        let table = try TOMLLibrary.parse(text, path: path)
        var file = ConfigFile(path: path)
        let lines = KeyLines(text)
        try file.read(table, lines: lines)
        return file
    }

    private init(path: String) { self.path = path }

    private func fail(_ line: Int?, _ message: String) -> HostUsageError {
        HostUsageError("--config \(path):\(line.map(String.init) ?? "?"): \(message)")
    }

    private mutating func read(_ table: ConfigTable, lines: KeyLines) throws(HostUsageError) {
        for key in table.keys.sorted() where !Self.hostKeys.contains(key) {
            throw fail(lines.line(of: key, in: .top), "unknown key \"\(key)\" (expected one of \(Self.hostKeys.joined(separator: ", ")))")
        }
        let at = { (key: String) in lines.line(of: key, in: .top) }
        taskShutdownTimeout = try seconds(table["task-shutdown-timeout"], key: "task-shutdown-timeout", line: at("task-shutdown-timeout"))
        executorWorkers = try workers(table["executor-workers"], key: "executor-workers", line: at("executor-workers"))
        stopOnUnhandledErrors = try bool(table["stop-on-unhandled-errors"], key: "stop-on-unhandled-errors", line: at("stop-on-unhandled-errors"))
        allowInsecurePlugins = try bool(table["allow-insecure-plugins"], key: "allow-insecure-plugins", line: at("allow-insecure-plugins"))
        if let value = table["log-level"] {
            guard let text = value.string, let level = Logger.Level(rawValue: text) else {
                throw fail(at("log-level"), "key \"log-level\" must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = level
        }
        if let value = table["log-format"] {
            guard let text = value.string, let format = LogFormat(rawValue: text) else {
                throw fail(at("log-format"), "key \"log-format\" must be \"text\" or \"json\"")
            }
            logFormat = format
        }
        guard let entries = table["plugin"] else { return }
        guard let array = entries.array else {
            throw fail(at("plugin"), "\"plugin\" must be an array of tables: write each as [[plugin]]")
        }
        for index in 0..<array.count {
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
        for key in table.keys.sorted() where !Self.pluginKeys.contains(key) {
            throw fail(lines.line(of: key, in: section), "unknown key \"\(key)\" in \(name) (expected one of \(Self.pluginKeys.joined(separator: ", ")))")
        }
        guard let loadValue = table["load"] else { throw fail(start, "\(name) has no \"load\" key (the plugin's path or name)") }
        guard let target = loadValue.string, !target.isEmpty else {
            throw fail(lines.line(of: "load", in: section), "key \"load\" in \(name) must be a non-empty string")
        }
        var alias: String?
        if let value = table["alias"] {
            guard let text = value.string, PluginName.isValid(text) else {
                throw fail(lines.line(of: "alias", in: section), "key \"alias\" in \(name) must be a valid plugin name ([a-z0-9][a-z0-9_-]{0,63})")
            }
            alias = text
        }
        var config: [String: String] = [:]
        if let value = table["config"] {
            guard let values = value.table else {
                throw fail(lines.line(of: "config", in: section), "key \"config\" in \(name) must be a table ([plugin.config])")
            }
            for key in values.keys {
                let item = values[key]
                let line = lines.line(of: key, in: .pluginConfig(index)) ?? lines.line(of: "config", in: section)
                if let text = item?.string { config[key] = text }
                else if let number = item?.int { config[key] = String(number) }
                else if let number = item?.double { config[key] = String(number) }
                else if let flag = item?.bool { config[key] = String(flag) }
                else { throw fail(line, "config key \"\(key)\" in \(name) must be a string, number or boolean") }
            }
        }
        var argument = PluginArgument(
                alias: alias, target: target,
                taskShutdownTimeout: try seconds(table["task-shutdown-timeout"], key: "task-shutdown-timeout", line: lines.line(of: "task-shutdown-timeout", in: section)),
                executorWorkers: try workers(table["executor-workers"], key: "executor-workers", line: lines.line(of: "executor-workers", in: section)),
                origin: "--config \(path):\(lines.line(of: "load", in: section) ?? start ?? 0): key \"load\"")
        argument.config = config
        return Plugin(argument: argument, line: start ?? 0)
    }

    private func seconds(_ value: ConfigValue?, key: String, line: Int?) throws(HostUsageError) -> Duration? {
        guard let value else { return nil }
        let number = value.double ?? value.int.map(Double.init)
        guard let number, number.isFinite, number >= 0, number <= 86_400 * 365 else {
            throw fail(line, "key \"\(key)\" must be a number of seconds from 0 to one year")
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    private func workers(_ value: ConfigValue?, key: String, line: Int?) throws(HostUsageError) -> Int? {
        guard let value else { return nil }
        guard let number = value.int, (1...1024).contains(number) else {
            throw fail(line, "key \"\(key)\" must be an integer from 1 to 1024")
        }
        return number
    }

    private func bool(_ value: ConfigValue?, key: String, line: Int?) throws(HostUsageError) -> Bool? {
        guard let value else { return nil }
        guard let flag = value.bool else { throw fail(line, "key \"\(key)\" must be true or false") }
        return flag
    }

    private static func read(_ path: String) throws(HostUsageError) -> String {
        guard let file = fopen(path, "r") else {
            throw HostUsageError("--config \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if ferror(file) != 0 {
                throw HostUsageError("--config \(path): cannot read it: \(String(cString: strerror(errno)))")
            }
            if count < buffer.count { break }
            if bytes.count > 16 << 20 { throw HostUsageError("--config \(path): larger than 16 MiB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Where each key of the config file stands, by section, for messages. TOMLKit gives positions
/// only for syntax errors, so the file's lines are scanned for `key =` under their headers.
struct KeyLines: Sendable {
    enum Section: Hashable, Sendable {
        case top, plugin(Int), pluginConfig(Int), other
    }

    private var lines: [Section: [String: Int]] = [:]
    private var headers: [Int: Int] = [:]

    init(_ text: String) {
        var section = Section.top
        var pluginIndex = -1
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix { $0 != "]" }.filter { $0 != " " }
                if name == "plugin" {
                    pluginIndex += 1
                    headers[pluginIndex] = number
                    section = .plugin(pluginIndex)
                } else {
                    section = .other
                }
            } else if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }.filter { $0 != " " }
                section = name == "plugin.config" && pluginIndex >= 0 ? .pluginConfig(pluginIndex) : .other
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                var key = String(line[..<equals]).trimmingCharacters(in: " \t")
                if key.count >= 2, key.first == "\"" || key.first == "'" { key = String(key.dropFirst().dropLast()) }
                if lines[section, default: [:]][key] == nil { lines[section, default: [:]][key] = number }
            }
        }
    }

    func line(of key: String, in section: Section) -> Int? { lines[section]?[key] }
    func header(of plugin: Int) -> Int? { headers[plugin] }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
