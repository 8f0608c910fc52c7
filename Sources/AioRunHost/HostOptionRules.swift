import AioRun
import Logging

/// The rule for one host option: its name and what its value may be, with how the messages say
/// so. The command line and the config file use the same rules, so both accept exactly the same
/// values (see README, Command line); each names the value its own way (`--executor-workers 0: …`
/// or `--config FILE:LINE: key "executor-workers" …`).
struct OptionRule<Input: Sendable, Value: Sendable>: Sendable {
    /// The option's name: `--NAME` on the command line, the key `NAME` in a config file.
    let name: String
    /// What a valid value looks like, for messages: `an integer from 1 to 1024`.
    let expected: String
    private let convert: @Sendable (Input) -> Value?

    /// Creates a rule from its name, its description and its check (nil for a value it refuses).
    init(_ name: String, expected: String, _ convert: @escaping @Sendable (Input) -> Value?) {
        self.name = name
        self.expected = expected
        self.convert = convert
    }

    /// The value for `input`, or nil if the rule refuses it.
    func value(_ input: Input) -> Value? { convert(input) }

    /// The value for the command line's `--NAME input`, or a usage error naming the option:
    /// `--executor-workers 0: expected an integer from 1 to 1024`.
    func commandLineValue(_ input: Input) throws(HostUsageError) -> Value {
        guard let value = convert(input) else { throw HostUsageError("--\(name) \(input): expected \(expected)") }
        return value
    }
}

/// The host's option rules (README, Command line), shared by the command line and the config
/// file: every option that both accept.
enum HostOptionRules {
    /// The longest time limit: one year, in seconds.
    static let oneYear: Double = 86_400 * 365

    /// `task-shutdown-timeout`, also per plugin: 0 to one year.
    static let taskShutdownTimeout = OptionRule<Double, Duration>(
        "task-shutdown-timeout",
        expected: "a number of seconds from 0 to one year"
    ) { $0.isFinite && $0 >= 0 && $0 <= oneYear ? duration(seconds: $0) : nil }

    /// `load-timeout`: above 0, up to one year.
    static let loadTimeout = OptionRule<Double, Duration>(
        "load-timeout",
        expected: "a number of seconds above 0, up to one year"
    ) { $0.isFinite && $0 > 0 && $0 <= oneYear ? max(.nanoseconds(1), duration(seconds: $0)) : nil }

    /// `startup-timeout`, also per plugin: above 0, up to one year.
    static let startupTimeout = OptionRule<Double, Duration>(
        "startup-timeout",
        expected: "a number of seconds above 0, up to one year"
    ) { $0.isFinite && $0 > 0 && $0 <= oneYear ? max(.nanoseconds(1), duration(seconds: $0)) : nil }

    /// `drain-delay`: 0 to one year.
    static let drainDelay = OptionRule<Double, Duration>(
        "drain-delay",
        expected: "a number of seconds from 0 to one year"
    ) { $0.isFinite && $0 >= 0 && $0 <= oneYear ? duration(seconds: $0) : nil }

    /// `restart`, also per plugin: `no` or `on-failure`.
    static let restart = OptionRule<String, RestartPolicy.Mode>("restart", expected: "no or on-failure") {
        RestartPolicy.Mode(rawValue: $0)
    }

    /// `restart-max`, also per plugin: 0 to 1000 restarts within the window.
    static let restartMax = OptionRule<Int, Int>("restart-max", expected: "an integer from 0 to 1000") {
        (0...1000).contains($0) ? $0 : nil
    }

    /// `restart-window`, also per plugin: above 0, up to one year.
    static let restartWindow = OptionRule<Double, Duration>(
        "restart-window",
        expected: "a number of seconds above 0, up to one year"
    ) { $0.isFinite && $0 > 0 && $0 <= oneYear ? max(.nanoseconds(1), duration(seconds: $0)) : nil }

    /// `executor-workers`, also per plugin: 1 to 1024 threads.
    static let executorWorkers = OptionRule<Int, Int>("executor-workers", expected: "an integer from 1 to 1024") {
        (1...1024).contains($0) ? $0 : nil
    }

    /// `memory-limit`, also per plugin: 1 MiB to 1 TiB, in bytes or with a binary suffix (README,
    /// Command line). The command line gives the text, a config file an integer (bytes) or a
    /// string.
    static let memoryLimit = OptionRule<String, Int>(
        "memory-limit",
        expected: "a size from 1M to 1T (bytes, or with K, M or G)"
    ) { text in
        guard let bytes = size(text), (1 << 20...1 << 40).contains(bytes) else { return nil }
        return bytes
    }

    /// `open-files-limit`, also per plugin: 16 to 1048576 file descriptors.
    static let openFilesLimit = OptionRule<Int, Int>(
        "open-files-limit",
        expected: "an integer from 16 to 1048576"
    ) { (16...1_048_576).contains($0) ? $0 : nil }

    /// `log-level`: swift-log's level names.
    static let logLevel = OptionRule<String, Logger.Level>(
        "log-level",
        expected: "one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
    ) { Logger.Level(rawValue: $0) }

    /// `log-format`: `text` or `json`.
    static let logFormat = OptionRule<String, LogFormat>("log-format", expected: "text or json") {
        LogFormat(rawValue: $0)
    }

    /// `stop-on-unhandled-errors`: a flag on the command line, `true` or `false` in a file.
    static let stopOnUnhandledErrors = flag("stop-on-unhandled-errors")
    /// `allow-insecure-plugins`: a flag on the command line, `true` or `false` in a file.
    static let allowInsecurePlugins = flag("allow-insecure-plugins")
    /// `preflight`: a flag on the command line, `true` or `false` in a file.
    static let preflight = flag("preflight")
    /// `concurrent-start`: a flag on the command line, `true` or `false` in a file.
    static let concurrentStart = flag("concurrent-start")
    /// `isolate`, also per plugin: a flag on the command line (every plugin's default), `true` or
    /// `false` in a file.
    static let isolate = flag("isolate")

    /// A flag: any boolean.
    private static func flag(_ name: String) -> OptionRule<Bool, Bool> {
        OptionRule(name, expected: "true or false") { $0 }
    }

    /// The binary suffixes of a size, case-insensitive, with their multipliers.
    private static let sizeSuffixes: [(suffix: String, multiplier: Int)] = [
        ("", 1), ("k", 1 << 10), ("kib", 1 << 10), ("m", 1 << 20), ("mib", 1 << 20), ("g", 1 << 30),
        ("gib", 1 << 30), ("t", 1 << 40), ("tib", 1 << 40),
    ]

    /// A size in bytes: decimal digits, then optionally a binary suffix (`K`, `M`, `G`, `T`, or
    /// `KiB`, `MiB`, `GiB`, `TiB`, any case): `512M`, `1GiB`, `1048576`. Nil for anything else,
    /// or a size that does not fit an `Int`.
    static func size(_ text: String) -> Int? {
        let digits = text.prefix { ("0"..."9").contains($0) }
        guard !digits.isEmpty, digits.count <= 18, let number = Int(digits) else { return nil }
        let suffix = text[digits.endIndex...].lowercased()
        guard let multiplier = sizeSuffixes.first(where: { $0.suffix == suffix })?.multiplier else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// Seconds (already checked to be finite and at most a year) as a `Duration`, to the
    /// nanosecond.
    private static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
