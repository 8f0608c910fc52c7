/// How one unit's teardown went: the time of each phase and what was abandoned.
public struct UnitTeardownReport: Sendable {
    /// The teardown phases of DESIGN §4, in order.
    public enum Phase: String, Sendable, CaseIterable {
        /// Phase 1: `onShutdown` callbacks.
        case callbacks
        /// Phase 2: cancelling `run()` and tracked tasks.
        case cancel
        /// Phase 3: waiting for tasks and shields.
        case wait
        /// Phase 4: draining the executor pool.
        case drain
    }

    /// The unit's name.
    public let name: String
    /// Time spent in each phase that started.
    public var phaseTimes: [Phase: Duration] = [:]
    /// The phase that was running when the time limit expired, if it did.
    public var expiredIn: Phase?
    /// What was still running and got abandoned at the time limit.
    public var abandoned: [RunningWork] = []
    /// The whole teardown's duration.
    public var total: Duration = .zero

    /// `callbacks 0.001s, cancel 0.000s, wait 2.001s, drain 0.000s`.
    public var phaseSummary: String {
        Phase.allCases.compactMap { phase in phaseTimes[phase].map { "\(phase.rawValue) \($0.seconds)" } }
            .joined(separator: ", ")
    }

    /// `ok` or `abandoned N at <phase>`.
    public var outcome: String {
        guard let expiredIn else { return "ok" }
        return "abandoned \(abandoned.count) at \(expiredIn.rawValue)"
    }
}

/// The whole shutdown: what triggered it, each unit's report in teardown order, and the exit code.
public struct ShutdownReport: Sendable {
    /// What started the shutdown (nil if none, e.g. nothing was started).
    public let trigger: ShutdownTrigger?
    /// One report per unit, in teardown (reverse load) order.
    public let units: [UnitTeardownReport]
    /// The process exit code this shutdown earns (DESIGN §5).
    public let exitCode: Int32
    /// The time from the trigger to the end of the last teardown.
    public let total: Duration

    /// A small table, one row per unit, for the end of the log.
    public var summary: String {
        let width = max(6, units.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ count: Int) -> String {
            text.count >= count ? text : text + String(repeating: " ", count: count - text.count)
        }
        var lines = ["shutdown report: trigger=\(trigger?.description ?? "none") total=\(total.seconds) exit=\(exitCode)"]
        lines.append("  \(pad("plugin", width))  \(pad("total", 9))  outcome / phases")
        for unit in units {
            lines.append("  \(pad(unit.name, width))  \(pad(unit.total.seconds, 9))  \(unit.outcome) (\(unit.phaseSummary))")
        }
        return lines.joined(separator: "\n")
    }
}
