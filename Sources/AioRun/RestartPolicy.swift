/// What the host does when a plugin fails (README, "Restart on failure"): nothing (`no`, the
/// default), or tear the failed instance down and create a fresh one (`on-failure`), at most
/// ``maxRestarts`` times within ``window``, waiting longer before each try.
public struct RestartPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Whether failures are restarted.
    public enum Mode: String, Sendable, Equatable {
        /// A failure is logged as an unhandled error; before the plugin is ready it fails the start.
        case no
        /// A failure tears the instance down and creates a fresh one, within the budget.
        case onFailure = "on-failure"
    }

    /// Whether failures are restarted.
    public var mode: Mode
    /// The most restarts within ``window``; one more failure spends the budget.
    public var maxRestarts: Int
    /// The sliding window over which restarts are counted.
    public var window: Duration
    /// The wait before the first restart; each further restart within the window doubles it,
    /// up to ``maxDelay``.
    public var initialDelay: Duration
    /// The longest wait between tries.
    public var maxDelay: Duration

    /// The default budget: 5 restarts within 60 s.
    public static let defaultMaxRestarts = 5
    /// The default window: 60 s.
    public static let defaultWindow: Duration = .seconds(60)

    /// Creates a policy; the defaults are `no`, 5 restarts within 60 s, 0.1 s doubling to 5 s.
    public init(
        mode: Mode = .no,
        maxRestarts: Int = RestartPolicy.defaultMaxRestarts,
        window: Duration = RestartPolicy.defaultWindow,
        initialDelay: Duration = .milliseconds(100),
        maxDelay: Duration = .seconds(5)
    ) {
        self.mode = mode
        self.maxRestarts = maxRestarts
        self.window = window
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// Never restart (today's behaviour).
    public static let no = RestartPolicy()

    /// Restart on failure, at most `maxRestarts` times within `window`.
    public static func onFailure(
        maxRestarts: Int = RestartPolicy.defaultMaxRestarts,
        within window: Duration = RestartPolicy.defaultWindow
    ) -> RestartPolicy {
        RestartPolicy(mode: .onFailure, maxRestarts: maxRestarts, window: window)
    }

    /// The wait before a restart when `recent` restarts happened within the window already.
    public func delay(afterRecentRestarts recent: Int) -> Duration {
        var delay = initialDelay
        for _ in 0..<min(recent, 32) {
            delay = delay * 2
            if delay >= maxDelay { return maxDelay }
        }
        return min(delay, maxDelay)
    }

    /// `no`, or `on-failure (at most 5 within 60s)`.
    public var description: String {
        mode == .no ? "no" : "on-failure (at most \(maxRestarts) within \(window.seconds))"
    }
}
