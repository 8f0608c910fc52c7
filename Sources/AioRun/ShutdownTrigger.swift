/// What started the shutdown.
public enum ShutdownTrigger: Sendable, CustomStringConvertible {
    /// The first SIGINT or SIGTERM.
    case signal(name: String, number: Int32)
    /// A plugin called `requestShutdown`.
    case requested(plugin: String, reason: String)
    /// An unhandled error with `--stop-on-unhandled-errors`.
    case unhandledError(plugin: String, what: String)
    /// A plugin did not become ready (README, "Readiness and ordered start").
    case startFailed(plugin: String, reason: String)
    /// A plugin failed after spending its restart budget (README, "Restart on failure").
    case restartBudgetSpent(plugin: String, lastError: String)
    /// A plugin (or the program) called `requestShutdown(error:)` (README, "In-process use").
    case stoppedWithError(plugin: String, error: String)

    /// A unit whose work runs elsewhere was lost after it was ready, with no restart (README,
    /// "Isolation"): an isolated plugin's process ended on its own.
    case unitLost(plugin: String, reason: String)
    /// In an isolated plugin's child whose host restarts it: the plugin failed after it was ready
    /// (README, "Isolation"); the child ends so that its host applies the restart policy.
    case unitFailed(plugin: String, reason: String)
    /// The host that runs this process as an isolated plugin's child stops it (README,
    /// "Isolation"); `reason` is the host's own trigger.
    case hostStopping(reason: String)
    /// One phrase for logs.
    public var description: String {
        switch self {
        case .signal(let name, _): return name
        case .requested(let plugin, let reason): return "requestShutdown from \(plugin) (\(reason))"
        case .unhandledError(let plugin, let what): return "unhandled error in \(plugin): \(what)"
        case .startFailed(let plugin, let reason): return "plugin \(plugin) failed to start: \(reason)"
        case .restartBudgetSpent(let plugin, let lastError):
            return "plugin \(plugin) spent its restart budget; last error: \(lastError)"
        case .stoppedWithError(let plugin, let error): return "\(plugin) stopped with an error: \(error)"
        case .unitLost(let plugin, let reason): return "plugin \(plugin) was lost: \(reason)"
        case .hostStopping(let reason): return "the host's shutdown (\(reason))"
        case .unitFailed(let plugin, let reason): return "plugin \(plugin) failed: \(reason)"
        }
    }
}

/// A latch for the first shutdown trigger. Later triggers are reported as not first.
final class TriggerLatch: Sendable {
    private struct State {
        var trigger: ShutdownTrigger?
        var waiters: [CheckedContinuation<ShutdownTrigger, Never>] = []
    }

    private let state = LockedValue(State())

    /// Records `trigger` if it is the first. Returns whether it was.
    @discardableResult
    func fire(_ trigger: ShutdownTrigger) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<ShutdownTrigger, Never>]? in
            guard state.trigger == nil else { return nil }
            state.trigger = trigger
            defer { state.waiters = [] }
            return state.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: trigger) }
        return true
    }

    /// The first trigger, if one has fired.
    var fired: ShutdownTrigger? { state.withLock { $0.trigger } }

    /// Waits for the first trigger.
    func wait() async -> ShutdownTrigger {
        await withCheckedContinuation { continuation in
            let fired = state.withLock { state -> ShutdownTrigger? in
                if let trigger = state.trigger { return trigger }
                state.waiters.append(continuation)
                return nil
            }
            if let fired { continuation.resume(returning: fired) }
        }
    }
}
