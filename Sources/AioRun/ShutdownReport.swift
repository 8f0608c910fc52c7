/// How one unit's teardown went: the time of each phase and what was abandoned.
public struct UnitTeardownReport: Sendable {
    /// The teardown phases of README "How shutdown proceeds", in order.
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
    /// What was still running and got abandoned at the time limit, summarised (its `count` is
    /// exact; its description lists up to ``WorkSummary/listedInFull`` items, else counts by label).
    public var abandoned = WorkSummary()
    /// The whole teardown's duration.
    public var total: Duration = .zero
    /// How many times the unit was restarted after a failure before this teardown (README,
    /// "Restart on failure").
    public var restarts = 0

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
    /// The process exit code this shutdown earns (README, "Exit codes"; see
    /// ``AioRunExitCode/afterShutdown(stoppedForUnhandledError:abandonedAny:)``).
    public let exitCode: Int32
    /// The time from the trigger to the end of the last teardown.
    public let total: Duration

    /// A table, one row per unit in teardown order: outcome, total, each phase's time (`-` for a
    /// phase not reached), and what was abandoned (summarised when long: see ``WorkSummary``).
    public var summary: String {
        let header =
            ["plugin", "outcome", "restarts", "total"] + UnitTeardownReport.Phase.allCases.map(\.rawValue) + [
                "abandoned"
            ]
        let rows = units.map { unit in
            [unit.name, unit.expiredIn == nil ? "ok" : "abandoned", "\(unit.restarts)", unit.total.seconds]
                + UnitTeardownReport.Phase.allCases.map { unit.phaseTimes[$0]?.seconds ?? "-" }
                + [unit.abandoned.count == 0 ? "-" : unit.abandoned.description]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            return "  " + padded.joined(separator: "  ")
        }
        let title = "shutdown report: trigger=\(trigger?.description ?? "none") total=\(total.seconds) exit=\(exitCode)"
        return ([title, line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
