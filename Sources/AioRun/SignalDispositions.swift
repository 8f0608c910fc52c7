@_spi(AioRunRuntime) import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// The process's signal dispositions as they were before any lifecycle manager changed them, so
/// that a runner that returns leaves the process as it found it (README, "In-process use").
///
/// A manager holds them from its creation (before it ignores SIGPIPE and its signal sources set
/// SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to SIG_IGN) until its `run` returns. Managers may
/// overlap (tests run several in one process): the first hold saves the dispositions, the last
/// release restores them.
enum SignalDispositions {
    private struct State {
        var holders = 0
        var saved: [(signal: Int32, action: sigaction)] = []
    }

    private static let state = LockedValue(State())

    /// Saves the dispositions of every signal a manager changes, unless a manager holds them
    /// already.
    static func hold() {
        state.withLock { state in
            state.holders += 1
            guard state.holders == 1 else { return }
            state.saved = SignalGuard.owned.compactMap { signal in
                var action = sigaction()
                return sigaction(signal, nil, &action) == 0 ? (signal, action) : nil
            }
        }
    }

    /// Restores the saved dispositions when no other manager holds them any more.
    static func release() {
        // Outside any plugin context: the signal guard refuses changes made with one current.
        PluginContext.$current.withValue(nil) {
            state.withLock { state in
                state.holders -= 1
                guard state.holders == 0 else { return }
                for (signal, saved) in state.saved {
                    var action = saved
                    sigaction(signal, &action, nil)
                }
                state.saved = []
            }
        }
    }

    /// `SIG_DFL`, `SIG_IGN` or `a handler`: the disposition of `signal` now, for tests and probes.
    static func describe(_ signal: Int32) -> String {
        var action = sigaction()
        guard sigaction(signal, nil, &action) == 0 else { return "unknown" }
        switch unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) {
        case 0: return "SIG_DFL"
        case 1: return "SIG_IGN"
        default: return "a handler"
        }
    }
}
