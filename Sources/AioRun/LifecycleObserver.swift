/// Hooks for the moments a supervisor cares about (systemd's sd_notify, for example). Every
/// hook is called on the manager's control thread and must return quickly.
public struct LifecycleObserver: Sendable {
    /// Every unit is ready; the argument is how many.
    public var ready: @Sendable (_ units: Int) -> Void = { _ in }
    /// The manager waits for `unit` to become ready, for at most `limit`.
    public var waitingForReady: @Sendable (_ unit: String, _ limit: Duration) -> Void = { _, _ in }
    /// `unit` is being restarted after a failure (its `attempt`-th restart within its window).
    public var restarting: @Sendable (_ unit: String, _ attempt: Int) -> Void = { _, _ in }
    /// The host keeps serving for `delay` before its teardown (README, "Drain delay").
    public var draining: @Sendable (_ delay: Duration) -> Void = { _ in }
    /// The first shutdown trigger fired.
    public var shutdownStarted: @Sendable (_ trigger: ShutdownTrigger) -> Void = { _ in }
    /// A unit's teardown begins; it has at most `limit`.
    public var teardownStarted: @Sendable (_ unit: String, _ limit: Duration) -> Void = { _, _ in }
    /// A unit's teardown ended.
    public var teardownFinished: @Sendable (_ report: UnitTeardownReport) -> Void = { _ in }
    /// Runs every `interval` on the control thread while it is responsive; `nil` for never.
    public var heartbeat: (interval: Duration, beat: @Sendable () -> Void)?

    /// An observer that does nothing.
    public init() {}
}
