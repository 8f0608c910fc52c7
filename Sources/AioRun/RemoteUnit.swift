@_spi(AioRunRuntime) import AioRunPluginAPI

/// An error that means a unit is gone, not merely that its `run()` failed: its work ran in
/// another process and that process ended (README, "Isolation"). After the unit was ready, with
/// the restart policy `no`, the host shuts down (``ShutdownTrigger/unitLost(plugin:reason:)``,
/// exit code 72) instead of logging it as an unhandled error and running on without it. Its
/// description is the whole reason: `its process died of signal 11 (SIGSEGV)`.
package protocol UnitLoss: Error, CustomStringConvertible {}

/// How a unit's teardown went where its work ran (an isolated plugin's child process, README,
/// "Isolation"): the report of that teardown, which replaces the phases the host saw for it.
package struct RemoteTeardown: Sendable {
    /// Time spent in each phase that started there.
    package var phaseTimes: [UnitTeardownReport.Phase: Duration] = [:]
    /// The phase in which its time limit expired there, if it did.
    package var expiredIn: UnitTeardownReport.Phase?
    /// How much was abandoned there.
    package var abandonedCount = 0
    /// What was abandoned there, as its report said it.
    package var abandonedDescription = "nothing"

    /// An empty record (nothing abandoned, no phase).
    package init() {}
}

extension LifecycleManager {
    /// Records how the teardown of the unit whose context is `context` went in the process where
    /// its work ran; that unit's report takes those phases and what was abandoned there (so an
    /// abandonment there makes exit code 70 here). Ignored for a context of another manager.
    package func recordRemoteTeardown(of context: PluginContext, _ teardown: RemoteTeardown) {
        (context.scope as? UnitScope)?.recordRemoteTeardown(teardown)
    }

    /// Fires `trigger` as this manager's first shutdown trigger, unless one fired already.
    /// Returns whether it was the first.
    @discardableResult
    package func triggerShutdown(_ trigger: ShutdownTrigger) -> Bool {
        latch.fire(trigger)
    }

    /// Marks every unit draining (``PluginContext/isDraining`` reads true) before any trigger:
    /// for a host whose own host is draining (README, "Isolation", "Drain delay").
    package func markAllDraining() {
        for slot in units.withLock({ $0 }) { slot.live?.markDraining() }
    }
}

extension WorkSummary {
    /// A summary of work abandoned elsewhere, as `description` there described it.
    package init(count: Int, describedAs description: String) {
        self.init()
        self.elsewhere = count == 0 ? nil : (count, description)
    }
}
