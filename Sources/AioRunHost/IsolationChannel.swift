#if canImport(Glibc)
import Glibc
#endif

/// The channel between the host and an isolated plugin's child process (README, "Isolation"): a
/// `SOCK_SEQPACKET` socket pair, so that each message arrives whole and either side sees the
/// other's end as end-of-file. A message is `KEY=VALUE` lines (newlines and backslashes in a
/// value escaped).
///
/// From the child: `READY=1` (its plugin is ready); `TRIGGER=<kind>` with `REASON=…` (its own
/// shutdown started, and why); `TEARDOWN=1` with `PHASE-<name>=<ns>`, `EXPIRED=<phase>`,
/// `ABANDONED=<n>` and `WHAT=…` (how its teardown went). From the host: `DRAIN=1` (the host is
/// draining) and `STOP=<reason>` (tear the plugin down now).
enum IsolationChannel {
    /// The environment variable that tells the child its end's descriptor.
    static let environmentVariable = "AIORUN_PARENT_FD"
    /// The child's end of the channel, as the child sees it.
    static let childDescriptor: Int32 = 3

    /// One received message.
    struct Message: Sendable {
        /// Its fields, in order.
        let fields: [(key: String, value: String)]

        /// The first value for `key`, if any.
        subscript(key: String) -> String? { fields.first { $0.key == key }?.value }
    }

    /// A connected pair (close-on-exec): the host's end and the child's.
    static func makePair() -> (host: Int32, child: Int32)? {
        var fds: [Int32] = [-1, -1]
        let kind = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &fds) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    /// Sends one message on `fd`, waiting for room if need be (with `wait` false, never: a full
    /// socket drops it). False if the other end is gone or it was dropped.
    @discardableResult
    static func send(_ fields: [(String, String)], on fd: Int32, wait: Bool = true) -> Bool {
        let bytes = Array(fields.map { "\($0.0)=\(escape($0.1))" }.joined(separator: "\n").utf8)
        let flags = Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT))
        while true {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, flags) }
            if sent >= 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// Receives one message from `fd`: nil at the other end's close or on an error. With `wait`
    /// false, also nil when none is queued.
    static func receive(on fd: Int32, wait: Bool = true) -> Message? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes {
                recv(fd, $0.baseAddress, $0.count, wait ? 0 : Int32(MSG_DONTWAIT))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            return decode(buffer[0..<count])
        }
    }

    /// The fields of one message's bytes.
    static func decode(_ bytes: ArraySlice<UInt8>) -> Message {
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line in
            guard let equals = line.firstIndex(of: "=") else { return (key: String(line), value: "") }
            return (key: String(line[..<equals]), value: unescape(line[line.index(after: equals)...]))
        }
        return Message(fields: fields)
    }

    private static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\n" || $0 == "\\" || $0 == "\r" }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(character)
            }
        }
        return out
    }

    private static func unescape(_ value: Substring) -> String {
        guard value.contains("\\") else { return String(value) }
        var out = ""
        var escaped = false
        for character in value {
            if escaped {
                out.append(character == "n" ? "\n" : character == "r" ? "\r" : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}
