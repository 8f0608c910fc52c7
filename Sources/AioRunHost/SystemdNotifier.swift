import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// systemd's notification protocol (`sd_notify`): datagrams of `KEY=VALUE` lines sent to the
/// unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`).
/// Without `NOTIFY_SOCKET` it does nothing. A few documented lines, so no library is needed.
final class SystemdNotifier: Sendable {
    private let fd: Int32
    private let address: [UInt8]
    /// Called with the count when a notification is dropped because the socket is full: the
    /// 1st, 2nd, 4th, 8th… time; with 0 when a state notification waits to be sent again.
    private let dropped: @Sendable (Int) -> Void
    private let drops = LockedValue(0)
    /// A state notification waiting for room in the socket, if any.
    private let pendingState = LockedValue<PendingState>(PendingState())

    private struct PendingState {
        var message: String?
    }

    /// Opens the socket named by `NOTIFY_SOCKET`, or returns `nil` when it is unset or empty.
    /// `dropped` hears of notifications the supervisor had no room for.
    init?(environment socketName: String?, dropped: @escaping @Sendable (Int) -> Void = { _ in }) {
        guard let socketName, !socketName.isEmpty, socketName.hasPrefix("/") || socketName.hasPrefix("@") else {
            return nil
        }
        var path = Array(socketName.utf8)
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        guard path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        address = path
        self.dropped = dropped
    }

    deinit { close(fd) }

    /// Sends one notification, e.g. `"READY=1\nSTATUS=running"`, without ever waiting: it is
    /// called on the control thread, and a supervisor that stops reading (its queue holds about
    /// ten datagrams) must not stall signals, time limits or the exit. A notification it has no
    /// room for is dropped and counted (see ``init(environment:dropped:)``); other errors are
    /// ignored, as `sd_notify` callers do: the supervisor may be gone.
    func send(_ message: String) {
        guard !trySend(message) else { return }
        let count = drops.withLock { drops in
            drops += 1
            return drops
        }
        if count & (count - 1) == 0 { dropped(count) }
    }

    /// Sends a notification that changes systemd's view of the service (READY=1, STOPPING=1):
    /// one the socket has no room for now is kept and sent again every 50 ms, from a task of its
    /// own, until it goes out or a newer one replaces it (for at most ``stateRetryLimit``), so a
    /// supervisor that was slow for a moment still learns that the host is ready or stopping.
    func sendState(_ message: String) {
        guard !trySend(message) else { return }
        let startRetrying = pendingState.withLock { pending -> Bool in
            defer { pending.message = message }
            return pending.message == nil
        }
        dropped(0)
        guard startRetrying else { return }
        Task.detached { [self] in
            let deadline = ContinuousClock.now + Self.stateRetryLimit
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
                guard let message = pendingState.withLock({ $0.message }) else { return }
                guard trySend(message) else { continue }
                let done = pendingState.withLock { pending -> Bool in
                    if pending.message == message { pending.message = nil }
                    return pending.message == nil
                }
                if done { return }
            }
            pendingState.withLock { $0.message = nil }
        }
    }

    /// How long a state notification is retried.
    static let stateRetryLimit: Duration = .seconds(120)

    /// One attempt to send `message` without waiting; false when the socket is full (other
    /// errors count as sent: the supervisor may be gone, as `sd_notify` callers assume).
    private func trySend(_ message: String) -> Bool {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let length = withUnsafeMutableBytes(of: &storage.sun_path) { raw -> Int in
            raw.copyBytes(from: address)
            return MemoryLayout<sa_family_t>.size + address.count
        }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes {
                    sendto(
                        fd,
                        $0.baseAddress,
                        $0.count,
                        Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT),
                        address,
                        socklen_t(length)
                    )
                }
            }
        }
        return !(sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    }

    /// The lifecycle hooks that speak this protocol (README, "Running under systemd or
    /// Kubernetes"): READY and STATUS once every plugin is ready, STATUS and EXTEND_TIMEOUT_USEC
    /// while the host waits for a plugin to become ready, STATUS for each restart, STOPPING at
    /// the first trigger, STATUS and EXTEND_TIMEOUT_USEC for each plugin's teardown,
    /// and WATCHDOG pings at half of `WATCHDOG_USEC` from the control thread.
    func observer(watchdogMicroseconds: UInt64?) -> LifecycleObserver {
        var observer = LifecycleObserver()
        observer.ready = { count in self.sendState(Self.readyMessage(count)) }
        observer.waitingForReady = { unit, limit in self.send(Self.waitingMessage(unit, limit: limit)) }
        observer.restarting = { unit, attempt in self.send(Self.restartingMessage(unit, attempt: attempt)) }
        observer.shutdownStarted = { trigger in self.sendState("STOPPING=1\nSTATUS=stopping: \(trigger)") }
        observer.draining = { delay in
            self.send("STATUS=draining before the teardown\nEXTEND_TIMEOUT_USEC=\(Self.extendedMicroseconds(delay))")
        }
        observer.teardownStarted = { unit, limit in self.send(Self.teardownMessage(unit, limit: limit)) }
        if let watchdogMicroseconds, watchdogMicroseconds > 0 {
            observer.heartbeat = (.microseconds(Int64(watchdogMicroseconds / 2)), { self.send("WATCHDOG=1") })
        }
        return observer
    }

    /// Every plugin is ready: `READY=1` with how many run.
    static func readyMessage(_ count: Int) -> String { "READY=1\nSTATUS=running \(count) plugins" }

    /// The host waits for `unit` to become ready within `limit`: a slow start that is on track
    /// must not be killed by systemd's start timeout, so it is extended by the whole limit plus a
    /// second for the host's own bookkeeping.
    static func waitingMessage(_ unit: String, limit: Duration) -> String {
        "STATUS=starting: waiting for plugin \(unit)\nEXTEND_TIMEOUT_USEC=\(extendedMicroseconds(limit))"
    }

    /// `unit` is restarted after a failure, its `attempt`-th restart within its window.
    static func restartingMessage(_ unit: String, attempt: Int) -> String {
        "STATUS=restarting plugin \(unit) (restart \(attempt))"
    }

    /// `unit`'s teardown begins within `limit`: a teardown on track must not be killed by
    /// systemd's stop timeout, so it is extended likewise.
    static func teardownMessage(_ unit: String, limit: Duration) -> String {
        "STATUS=stopping plugin \(unit)\nEXTEND_TIMEOUT_USEC=\(extendedMicroseconds(limit))"
    }

    /// `EXTEND_TIMEOUT_USEC` for a step limited to `limit`: the limit plus one second, in
    /// microseconds (a negative limit counts as zero).
    static func extendedMicroseconds(_ limit: Duration) -> UInt64 {
        let (seconds, attoseconds) = limit.components
        guard seconds >= 0, attoseconds >= 0 else { return 1_000_000 }
        return UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000) + 1_000_000
    }

    /// The lifecycle hooks for the supervisor named by this process's environment
    /// (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`; README, "Running under systemd or
    /// Kubernetes"), or nil when no supervisor listens.
    /// Dropped notifications are logged to `logger` at powers of two.
    static func observerFromEnvironment(logger: Logger) -> LifecycleObserver? {
        let socket = ProcessEnvironment.value("NOTIFY_SOCKET")
        let notifier = SystemdNotifier(environment: socket) { count in
            guard count > 0 else {
                logger.warning(
                    "systemd notification delayed: \(socket ?? "NOTIFY_SOCKET") is full; READY/STOPPING is sent again every 50 ms"
                )
                return
            }
            logger.warning(
                "systemd notification dropped: \(socket ?? "NOTIFY_SOCKET") is full (its reader is not reading); \(count) dropped so far, logged at powers of two"
            )
        }
        guard let notifier else { return nil }
        return notifier.observer(
            watchdogMicroseconds: watchdogMicroseconds(
                usec: ProcessEnvironment.value("WATCHDOG_USEC"),
                pid: ProcessEnvironment.value("WATCHDOG_PID")
            )
        )
    }

    /// `WATCHDOG_USEC`, if it is set for this process (`WATCHDOG_PID` unset or ours).
    static func watchdogMicroseconds(usec: String?, pid: String?) -> UInt64? {
        guard let usec, let value = UInt64(usec), value > 0 else { return nil }
        if let pid, let owner = Int32(pid), owner != getpid() { return nil }
        return value
    }
}
