/// One piece of a plugin's work that is still running, as named in time-limit reports and in the
/// report of a second signal.
public struct RunningWork: Sendable, CustomStringConvertible {
    /// What kind of work it is.
    public enum Kind: String, Sendable {
        /// An `onShutdown` callback.
        case callback
        /// A tracked task (including `run()`).
        case task
        /// Shielded work from `shutdownWaitsFor`.
        case shield
        /// An executor job on a pool thread.
        case job
        /// An executor job still waiting for a thread.
        case queuedJob = "queued job"
    }

    /// What kind of work it is.
    public let kind: Kind
    /// Its label: given by the plugin, or the file and line that started it.
    public let label: String
    /// How long it has been running (or queued).
    public let age: Duration

    /// `task "label" (age 1.234s)`.
    public var description: String { "\(kind.rawValue) \"\(label)\" (age \(age.seconds))" }
}

extension Duration {
    /// Seconds with millisecond precision, like `1.234s`.
    package var seconds: String {
        let millis = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        let whole = millis / 1000
        let fraction = millis % 1000
        return "\(whole).\(String(repeating: "0", count: 3 - String(fraction).count))\(fraction)s"
    }
}
