/// How far the manager's teardown has gone, for the SIGUSR1 status report.
struct ShutdownProgress: Sendable {
    /// When shutdown started, and its trigger.
    var shutdownStarted: (at: ContinuousClock.Instant, trigger: String)?
    /// The unit being torn down now.
    var stopping: String?
    /// The units already torn down.
    var stopped: Set<String> = []
}
