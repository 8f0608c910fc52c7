import UnixSignals

/// The process's SIGINT/SIGTERM handling, installed before any plugin starts.
///
/// The first signal fires the shutdown trigger (a no-op if something else fired it already). Any
/// later signal calls `escalate`, which logs what is still running and exits at once with
/// 128 + signal.
struct SignalWatcher: Sendable {
    private let signals: UnixSignalsSequence

    /// Traps SIGINT and SIGTERM now. Signals that arrive before `start` are kept, not lost.
    init() async {
        signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
    }

    /// Starts delivering signals: the first to `latch`, every later one to `escalate`.
    func start(latch: TriggerLatch, escalate: @escaping @Sendable (_ name: String, _ number: Int32) -> Void) {
        let signals = self.signals
        Task(executorPreference: ControlExecutor.shared) {
            // Counted here, not by the latch: after a requestShutdown or a stop-on-error, the
            // first signal (say, systemd's stop) must not force the exit; only a second one does.
            var received = 0
            for await signal in signals {
                received += 1
                let number = signal.rawValue
                let name = Self.name(of: number)
                if received == 1 {
                    latch.fire(.signal(name: name, number: number))
                } else {
                    escalate(name, number)
                }
            }
        }
    }

    /// `SIGINT`, `SIGTERM`, or `signal N`.
    static func name(of number: Int32) -> String {
        switch number {
        case 2: return "SIGINT"
        case 15: return "SIGTERM"
        default: return "signal \(number)"
        }
    }
}
