import AioRun

/// Where one ``PluginTestHarness`` is: started or not, its manager's `run` task, and whether the
/// manager has started the plugin, behind one lock.
final class HarnessState: Sendable {
    private struct State {
        var startCalled = false
        var task: Task<ShutdownReport, Never>?
        var ready = false
    }

    private let state = LockedValue(State())

    /// Records a call to `start`; false if there was one already.
    func beginStart() -> Bool {
        state.withLock { state in
            defer { state.startCalled = true }
            return !state.startCalled
        }
    }

    /// Keeps the task that runs the manager and ends with its report.
    func started(_ task: Task<ShutdownReport, Never>) {
        state.withLock { $0.task = task }
    }

    /// The manager's observer says every unit has been started.
    func markReady() {
        state.withLock { $0.ready = true }
    }

    /// The task that runs the manager, once `start` has created it.
    var task: Task<ShutdownReport, Never>? { state.withLock { $0.task } }

    /// Whether the manager has started the plugin's `run()`.
    var isReady: Bool { state.withLock { $0.ready } }
}
