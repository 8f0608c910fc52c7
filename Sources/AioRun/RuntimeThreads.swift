/// Starts work on the runtime's threads from the host.
public enum RuntimeThreads {
    /// Starts `body` as a task on the control thread, where it keeps running whatever plugin code
    /// does to the cooperative pool. `body` must not run plugin code.
    @discardableResult
    public static func controlTask(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: ControlExecutor.shared) { await body() }
    }

    /// Starts `body`, which may run plugin code that blocks for good (a library constructor, an
    /// initializer), on a new detached thread of its own, named `name`: neither the control
    /// thread nor a thread of the cooperative pool. If no thread can be started, runs it on the
    /// calling thread.
    public static func startOwnThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        OwnThread.start(name, body)
    }
}
