/// A plugin's string key/values, from `--set NAME.KEY=VALUE` on the host's command line.
///
/// The typed accessors throw ``PluginConfigError`` on a malformed value. Call them in the plugin's
/// initializer: a throwing initializer rejects the plugin at load time, before anything runs.
public struct PluginConfig: Sendable, Equatable {
    /// All values, by key.
    public let values: [String: String]

    /// Creates a config from key/values.
    public init(_ values: [String: String] = [:]) {
        self.values = values
    }

    /// The raw string for `key`, if set.
    public subscript(key: String) -> String? { values[key] }

    /// The string for `key`, or `defaultValue`.
    public func string(_ key: String, default defaultValue: String) -> String {
        values[key] ?? defaultValue
    }

    /// The integer for `key`, or `defaultValue` when unset. Throws when set but not an integer
    /// within `range`.
    public func int(
        _ key: String,
        default defaultValue: Int,
        in range: ClosedRange<Int> = Int.min...Int.max
    )
        throws -> Int
    {
        guard let raw = values[key] else { return defaultValue }
        guard let value = Int(raw), range.contains(value) else {
            throw PluginConfigError(
                key: key,
                value: raw,
                expected: "an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return value
    }

    /// The number for `key`, or `defaultValue` when unset. Throws when set but not a finite
    /// number within `range`.
    public func double(
        _ key: String,
        default defaultValue: Double,
        in range: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude
    )
        throws -> Double
    {
        guard let raw = values[key] else { return defaultValue }
        guard let value = Double(raw), value.isFinite, range.contains(value) else {
            throw PluginConfigError(
                key: key,
                value: raw,
                expected: "a number in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return value
    }
}

/// A config value that could not be read as the plugin expects.
public struct PluginConfigError: Error, CustomStringConvertible, Sendable {
    /// The offending key.
    public let key: String
    /// The value as given.
    public let value: String
    /// What was expected instead.
    public let expected: String

    /// Creates the error.
    public init(key: String, value: String, expected: String) {
        self.key = key
        self.value = value
        self.expected = expected
    }

    /// One line: key, value and what was expected.
    public var description: String { "config \(key)=\(value): expected \(expected)" }
}
