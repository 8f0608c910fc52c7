import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The child's side of ``IsolationChannel``: it tells the parent when its plugin is ready, when
/// and why its own shutdown started and how its teardown went, and it takes the parent's
/// `DRAIN` and `STOP`.
struct WorkerChannel: Sendable {
    /// The child's end of the channel.
    let fd: Int32
    /// Whether a failure after ready ends the child, for its host to restart it (see
    /// ``IsolatedWorker/restartsOnFailure``).
    let endsOnFailure: Bool
    /// Whether the child waits for `START` once its plugin is created (see
    /// ``IsolatedWorker/holdsBeforeStart``).
    let holds: Bool
    /// Opened by `START`, `STOP` or the channel's end.
    private let gate = StartGate()

    /// The child's channel on `fd`.
    init(fd: Int32, endsOnFailure: Bool, holds: Bool) {
        self.fd = fd
        self.endsOnFailure = endsOnFailure
        self.holds = holds
    }

    /// When the child holds: says `CREATED` and waits until the host says `START` (or stops it:
    /// then nothing starts, and the child ends with the shutdown that began meanwhile).
    func holdUntilStarted() async {
        guard holds else { return }
        IsolationChannel.send([("CREATED", "1")], on: fd)
        await gate.wait()
    }

    /// The lifecycle hooks that report to the parent.
    var observer: LifecycleObserver {
        var observer = LifecycleObserver()
        observer.ready = { _ in IsolationChannel.send([("READY", "1")], on: fd) }
        observer.shutdownStarted = { trigger in
            let (kind, reason) = Self.fields(of: trigger)
            IsolationChannel.send([("TRIGGER", kind.rawValue), ("REASON", reason)], on: fd)
        }
        observer.teardownFinished = { report in
            var fields = [("TEARDOWN", "1")]
            for (phase, time) in report.phaseTimes {
                let (seconds, attoseconds) = time.components
                fields.append(("PHASE-\(phase.rawValue)", "\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)"))
            }
            if let expired = report.expiredIn { fields.append(("EXPIRED", expired.rawValue)) }
            fields.append(("ABANDONED", "\(report.abandoned.count)"))
            fields.append(("WHAT", report.abandoned.description))
            IsolationChannel.send(fields, on: fd)
        }
        return observer
    }

    /// The child's exit code when plugin code closed (or replaced) its channel's descriptor: it
    /// can no longer be told to stop or report, so it ends (README, "Isolation").
    static let channelLostExitCode: Int32 = 76

    /// How often the channel's descriptor is checked while no message comes.
    static let channelCheckInterval: Int32 = 250

    /// Takes the parent's messages on a thread of its own until the channel closes: `DRAIN`
    /// marks the plugin draining, `STOP` (or the parent's end closing) starts the shutdown. A
    /// descriptor that plugin code closed or reused (a close does not wake a waiting `poll`, so
    /// it is checked every ``channelCheckInterval`` ms) ends the process with
    /// ``channelLostExitCode``.
    func listen(_ manager: LifecycleManager) {
        let identity = Self.identity(of: fd)
        OwnThread.start("aiorun-channel") { [fd] in
            while true {
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let woke = poll(&ready, 1, Self.channelCheckInterval)
                guard identity != nil, Self.identity(of: fd) == identity else {
                    manager.logger.error(
                        "plugin code closed this isolated plugin's channel to the host (descriptor \(fd)): exiting with \(Self.channelLostExitCode), since the host can no longer stop it"
                    )
                    terminateProcess(Self.channelLostExitCode)
                }
                if woke <= 0 { continue }
                guard let message = IsolationChannel.receive(on: fd, wait: false) else {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                    manager.triggerShutdown(.hostStopping(reason: "the channel to the host closed"))
                    gate.open()
                    return
                }
                if message["DRAIN"] != nil { manager.markAllDraining() }
                if let reason = message["STOP"] {
                    manager.triggerShutdown(.hostStopping(reason: reason))
                    gate.open()
                }
                if message["START"] != nil { gate.open() }
            }
        }
    }

    /// The device and inode `fd` refers to, nil if it is not open.
    private static func identity(of fd: Int32) -> [UInt64]? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }

    /// The trigger's kind and its own reason, for the parent to mirror.
    static func fields(of trigger: ShutdownTrigger) -> (ChildShutdown, String) {
        switch trigger {
        case .requested(_, let reason): return (.requested, reason)
        case .stoppedWithError(_, let error): return (.stoppedWithError, error)
        case .unhandledError(_, let what): return (.unhandledError, what)
        case .startFailed(_, let reason): return (.startFailed, reason)
        case .unitFailed(_, let reason): return (.failed, reason)
        case .hostStopping(let reason): return (.host, reason)
        default: return (.other, "\(trigger)")
        }
    }
}

/// What started an isolated plugin's child's own shutdown, as its `TRIGGER` message names it
/// (README, "Isolation").
enum ChildShutdown: String, Sendable {
    /// Its plugin called `requestShutdown`.
    case requested
    /// Its plugin called `requestShutdown(error:)`.
    case stoppedWithError = "stopped-with-error"
    /// An unhandled error under `--stop-on-unhandled-errors`.
    case unhandledError = "unhandled-error"
    /// Its plugin failed to start.
    case startFailed = "start-failed"
    /// Its plugin failed after it was ready, for the host to restart it.
    case failed
    /// The host told it to stop.
    case host
    /// Anything else (or a kind this host does not know).
    case other

    /// The exit codes with which a child ends the shutdown it started this way, in order.
    var exitCodes: [Int32] {
        switch self {
        case .requested, .failed, .host: return [AioRunExitCode.clean, AioRunExitCode.abandoned]
        case .stoppedWithError: return [AioRunExitCode.stoppedWithError]
        case .unhandledError: return [AioRunExitCode.unhandledError]
        case .startFailed: return [AioRunExitCode.failedToStart]
        case .other: return []
        }
    }
}

/// A gate that opens once: the held child's wait for the host's `START`.
final class StartGate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = LockedValue(State())

    /// Waits until the gate is open.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state -> Bool in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }

    /// Opens the gate and lets every waiter through.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
