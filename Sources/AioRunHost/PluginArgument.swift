/// One plugin argument of the command line: `path`, bare `name`, or `alias=<plugin>`.
public struct PluginArgument: Sendable, Equatable {
    /// The alias that renames this instance, if given as `alias=<plugin>`.
    public let alias: String?
    /// What to load: a path (contains `/`) or a bare name searched as `lib<name>.so`.
    public let target: String
    /// This instance's own time limit, overriding the host's (from a config file).
    public var taskShutdownTimeout: Duration?
    /// This instance's own pool size, overriding the host's (from a config file).
    public var executorWorkers: Int?
    /// Config values for this instance from a config file; `--set` overrides them.
    public var config: [String: String] = [:]
    /// Where the argument came from when not the command line, e.g. `--config f.toml:7: key "load"`.
    public var origin: String?

    /// Creates an argument directly (as a config file does).
    public init(alias: String?, target: String, taskShutdownTimeout: Duration? = nil, executorWorkers: Int? = nil, origin: String? = nil) {
        self.alias = alias
        self.target = target
        self.taskShutdownTimeout = taskShutdownTimeout
        self.executorWorkers = executorWorkers
        self.origin = origin
    }

    /// Parses one argument. An `=` before any `/` separates an alias.
    public init(parsing argument: String) throws(HostUsageError) {
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

/// Plugin names: `[a-z0-9][a-z0-9_-]{0,63}`.
public enum PluginName {
    /// The rule, as said in error messages.
    public static let rule = "is not a valid plugin name: it must match [a-z0-9][a-z0-9_-]{0,63}"

    /// Whether `name` follows the rule.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64 else { return false }
        func lowerOrDigit(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        return lowerOrDigit(first) && bytes.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == 0x2d || $0 == 0x5f }
    }
}

/// A bad option or value: exit 64 with one line.
public struct HostUsageError: Error, CustomStringConvertible, Sendable {
    /// The one-line message.
    public let description: String

    /// Creates the error. Control characters, line and paragraph separators and invisible
    /// format characters (such as bidi overrides) are escaped (`\n`, `\u{1B}`): a message
    /// often quotes a config file or an argument, and must stay one line that cannot repaint
    /// the terminal (see README, Failure modes).
    public init(_ description: String) {
        var text = ""
        for scalar in description.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                text += scalar.escaped(asASCII: true)
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        self.description = text
    }
}
