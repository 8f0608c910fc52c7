import Foundation
import Synchronization

/// A stand-in for systemd's notification socket that acts the instant `READY=1` arrives: its
/// receiving thread runs `onReady` right after reading that datagram, before it reads anything
/// else, the way a unit ordered `After=` this one (or a load balancer's first probe) would act on
/// it. README, "Running under systemd or Kubernetes".
///
/// `NotifySocket` only records messages and is polled every 5 ms; this probe measures what a
/// client sees at the moment readiness is announced.
final class NotifyReadyProbe<Outcome: Sendable>: Sendable {
    /// The value to put in `NOTIFY_SOCKET`: an abstract socket, `@name`.
    let address: String
    private let fd: Int32
    private let state = Mutex<(messages: [String], outcome: Outcome?, closed: Bool)>(([], nil, false))

    /// Binds a new abstract datagram socket and starts its receiving thread.
    init(onReady: @escaping @Sendable () -> Outcome) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HostTestError.buildFailed("socket: \(errno)") }
        self.fd = fd
        let name = "aiorun-ready-probe-\(UUID().uuidString.prefix(8))"
        address = "@\(name)"
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let bytes = [0] + Array(name.utf8)
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            close(fd)
            throw HostTestError.buildFailed("bind \(address): \(errno)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread { [self] in receiveLoop(onReady) }.start()
    }

    deinit {
        close(fd)
    }

    /// Stops the receiving thread (it notices within 100 ms).
    func stop() {
        state.withLock { $0.closed = true }
    }

    private func receiveLoop(_ onReady: @Sendable () -> Outcome) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !state.withLock({ $0.closed }) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                let first = state.withLock { state in
                    state.messages.append(text)
                    return state.outcome == nil && text.split(separator: "\n").contains("READY=1")
                }
                if first {
                    let outcome = onReady()
                    state.withLock { $0.outcome = outcome }
                }
            } else if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                return
            }
        }
    }

    /// Every message so far, in arrival order.
    var messages: [String] { state.withLock { $0.messages } }

    /// Waits (bounded) until `READY=1` has arrived and `onReady` has returned; its outcome, or nil.
    func waitForOutcome(within timeout: Duration) -> Outcome? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let outcome = state.withLock({ $0.outcome }) { return outcome }
            usleep(2_000)
        }
        return state.withLock { $0.outcome }
    }
}
