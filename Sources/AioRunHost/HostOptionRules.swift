import Logging

/// The rule for one host option's value: what it accepts and how the messages say so. The
/// command line and the config file use the same rules, so both accept exactly the same values
/// (see README, Command line); each names the value its own way (`--executor-workers 0: …` or
/// `--config FILE:LINE: key "executor-workers" …`).
public struct OptionRule<Input: Sendable, Value: Sendable>: Sendable {
    /// What a valid value looks like, for messages: `an integer from 1 to 1024`.
    public let expected: String
    private let convert: @Sendable (Input) -> Value?

    /// Creates a rule from its description and its check (nil for a value it refuses).
    public init(expected: String, _ convert: @escaping @Sendable (Input) -> Value?) {
        self.expected = expected
        self.convert = convert
    }

    /// The value for `input`, or nil if the rule refuses it.
    public func value(_ input: Input) -> Value? { convert(input) }

    /// The value for the command line's `--option input`, or a usage error naming the option:
    /// `--executor-workers 0: expected an integer from 1 to 1024`.
    public func value(_ input: Input, option: String) throws(HostUsageError) -> Value {
        guard let value = convert(input) else { throw HostUsageError("--\(option) \(input): expected \(expected)") }
        return value
    }
}

/// The host's option rules (README, Command line), shared by the command line and the config
/// file.
public enum HostOptionRules {
    /// The longest time limit: one year, in seconds.
    public static let oneYear: Double = 86_400 * 365

    /// `task-shutdown-timeout`, also per plugin: 0 to one year.
    public static let taskShutdownTimeout = OptionRule<Double, Duration>(expected: "a number of seconds from 0 to one year") {
        $0.isFinite && $0 >= 0 && $0 <= oneYear ? duration(seconds: $0) : nil
    }

    /// `load-timeout`: above 0, up to one year.
    public static let loadTimeout = OptionRule<Double, Duration>(expected: "a number of seconds above 0, up to one year") {
        $0.isFinite && $0 > 0 && $0 <= oneYear ? max(.nanoseconds(1), duration(seconds: $0)) : nil
    }

    /// `executor-workers`, also per plugin: 1 to 1024 threads.
    public static let executorWorkers = OptionRule<Int, Int>(expected: "an integer from 1 to 1024") {
        (1...1024).contains($0) ? $0 : nil
    }

    /// `log-level`: swift-log's level names.
    public static let logLevel = OptionRule<String, Logger.Level>(
        expected: "one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
    ) { Logger.Level(rawValue: $0) }

    /// `log-format`: `text` or `json`.
    public static let logFormat = OptionRule<String, LogFormat>(expected: "text or json") { LogFormat(rawValue: $0) }

    /// Seconds (already checked to be finite and at most a year) as a `Duration`, to the
    /// nanosecond.
    private static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
