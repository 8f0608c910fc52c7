import Foundation
import Synchronization

/// A unix datagram socket standing in for systemd's notification socket: it records every
/// message the host sends to `$NOTIFY_SOCKET`.
final class NotifySocket: Sendable {
    /// The value to put in `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    let address: String
    private let fd: Int32
    private let received = Mutex<[String]>([])

    /// Binds a new socket: at a path in `folder`, or in the abstract namespace.
    /// With `reading: false` nothing ever reads it: a stalled supervisor, whose queue fills after
    /// a few messages.
    init(in folder: URL, abstract: Bool, reading: Bool = true) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw HostTestError.buildFailed("socket: \(errno)") }
        let name =
            abstract ? "aiorun-test-\(UUID().uuidString.prefix(8))" : folder.appendingPathComponent("notify.sock").path
        address = abstract ? "@\(name)" : name
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw HostTestError.buildFailed("bind \(address): \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if reading { startReading() }
    }

    /// Starts reading (a socket made with `reading: false`: the supervisor catches up).
    func startReading() {
        Thread { [self] in self.receiveLoop(fd) }.start()
    }

    private func receiveLoop(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                received.withLock { $0.append(text) }
            } else if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                return
            }
        }
    }

    /// Every message so far, in arrival order.
    var messages: [String] { received.withLock { $0 } }

    /// Waits until a message containing `text` has arrived (bounded).
    func waitFor(_ text: String, within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if messages.contains(where: { $0.contains(text) }) { return true }
            usleep(5_000)
        }
        return messages.contains { $0.contains(text) }
    }
}
