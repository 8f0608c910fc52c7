import AioRun
import Logging

/// Where the host's start-up time goes (README, "Start-up time"): when each step ended, counted
/// from `main`, logged once at debug level when every plugin is ready:
///
///     start-up: ready 3.46 ms after main; arguments 1.41, configuration 0.22, lifecycle 0.93,
///     file checks 0.33, loading 0.12, creating 0.28, starting 0.17 (ms)
///
/// The steps run one after another (the file checks and the loading on the load thread, while
/// the main task waits for it), so each figure is the time since the step before it ended.
/// `Benchmarks/run` reads the line to set each step beside the floor in the same run.
enum StartupSteps {
    /// A step of the start-up, in the order the host runs them.
    enum Step: Int, CaseIterable, Sendable {
        /// swift-argument-parser reads the command line.
        case arguments
        /// The command line is checked and merged with the config file (read in a child, if any).
        case configuration
        /// The lifecycle manager: its control thread, the log writer, the signals trapped.
        case lifecycle
        /// Every plugin file is resolved and its ELF structure checked, before any is loaded.
        case fileChecks
        /// The pre-flight child, if any, then `dlopen`, the entry and the handshake of each file.
        case loading
        /// Each plugin instance is created (an isolated one's child started and its plugin made).
        case creating
        /// Ordered start, until every plugin is ready.
        case starting

        var label: String {
            switch self {
            case .arguments: return "arguments"
            case .configuration: return "configuration"
            case .lifecycle: return "lifecycle"
            case .fileChecks: return "file checks"
            case .loading: return "loading"
            case .creating: return "creating"
            case .starting: return "starting"
            }
        }
    }

    private struct Marks {
        var main: ContinuousClock.Instant?
        var ends: [Step: ContinuousClock.Instant] = [:]
        var reported = false
    }

    private static let marks = LockedValue(Marks())

    /// The start of `main` (``Host/prepareProcess()``).
    static func beginMain() {
        let now = ContinuousClock.now
        marks.withLock { $0.main = now }
    }

    /// `step` ended now. Only its first end counts: a step is not timed again later.
    static func end(_ step: Step) {
        let now = ContinuousClock.now
        marks.withLock { marks in
            if marks.ends[step] == nil { marks.ends[step] = now }
        }
    }

    /// The start-up line, once: `nil` without a start of `main` or after the first call.
    static func takeLine() -> String? {
        marks.withLock { marks -> String? in
            guard let main = marks.main, !marks.reported else { return nil }
            marks.reported = true
            var previous = main
            var parts: [String] = []
            for step in Step.allCases {
                guard let end = marks.ends[step] else { continue }
                parts.append("\(step.label) \(milliseconds(end - previous))")
                previous = end
            }
            return "start-up: ready \(milliseconds(previous - main)) ms after main; "
                + parts.joined(separator: ", ") + " (ms)"
        }
    }

    /// `observer`, which also ends the last step and logs the start-up line at debug level when
    /// every plugin is first ready.
    static func reporting(to observer: LifecycleObserver, logger: Logger) -> LifecycleObserver {
        var reporting = observer
        let ready = observer.ready
        reporting.ready = { count in
            end(.starting)
            if logger.logLevel <= .debug, let line = takeLine() { logger.debug("\(line)") }
            ready(count)
        }
        return reporting
    }

    /// `duration` in milliseconds with two decimals.
    private static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = seconds * 100_000 + attoseconds / 10_000_000_000_000
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
