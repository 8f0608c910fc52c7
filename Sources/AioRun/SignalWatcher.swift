import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The signals the host receives, installed before any plugin starts (see README, Failure modes,
/// Signals).
///
/// SIGINT and SIGTERM stop the host: the first fires the shutdown trigger (a no-op if something
/// else fired it already), or runs an in-process program's shutdown handler (README, "In-process
/// use"); any later one calls `escalate`, which logs what is still running and
/// exits at once with 128 + signal. SIGHUP, SIGUSR1 and SIGUSR2 are received too, so that their
/// default action (ending the process without teardown) never applies; they go to `other`.
struct SignalWatcher: Sendable {
    private let signals: UnixSignalsSequence

    /// Traps SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 now. Signals that arrive before `start`
    /// are kept, not lost.
    init() async {
        signals = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup, .sigusr1, .sigusr2)
    }

    /// Starts delivering signals: the first SIGINT/SIGTERM to `first`, every later one to
    /// `escalate`, and SIGHUP, SIGUSR1 and SIGUSR2 to `other`, all on the control thread.
    /// Returns the delivering task: cancelling it stops the delivery, and once it has ended the
    /// signal sources are gone (README, "In-process use").
    func start(
        first: @escaping @Sendable (_ name: String, _ number: Int32) -> Void,
        escalate: @escaping @Sendable (_ name: String, _ number: Int32) -> Void,
        other: @escaping @Sendable (_ number: Int32) -> Void
    ) -> Task<Void, Never> {
        let signals = self.signals
        return Task(executorPreference: ControlExecutor.shared) {
            // Counted here, not by the latch: after a requestShutdown or a stop-on-error, the
            // first signal (say, systemd's stop) must not force the exit; only a second one does.
            var received = 0
            for await signal in signals {
                let number = signal.rawValue
                guard number == SIGINT || number == SIGTERM else {
                    other(number)
                    continue
                }
                received += 1
                let name = Self.name(of: number)
                if received == 1 {
                    first(name, number)
                } else {
                    escalate(name, number)
                }
            }
        }
    }

    /// `SIGINT`, `SIGTERM`, `SIGHUP`, …, or `signal N`.
    static func name(of number: Int32) -> String {
        switch number {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGQUIT: return "SIGQUIT"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        case SIGPIPE: return "SIGPIPE"
        default: return "signal \(number)"
        }
    }
}
