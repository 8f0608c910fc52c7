/// What the host needs from the runtime while plugins load and are created (see README, "How
/// shutdown proceeds": a signal while plugins load is kept, and loading has a time limit).
extension LifecycleManager {
    /// Waits for the first shutdown trigger (a signal, or a plugin's `requestShutdown` from its
    /// initializer); returns at once if one has fired already.
    public func waitForShutdownTrigger() async -> ShutdownTrigger {
        await latch.wait()
    }
}
