import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// Copies an isolated plugin's standard output to the host's (README, "Isolation"), on a thread
/// of its own, byte for byte: whole lines at a time, so that lines of different plugins never
/// mix; a line longer than ``LineSplitter/outputLimit`` goes out in pieces of that size, without
/// a newline added. A stalled reader of the host's output stalls this copy and, through the
/// pipe, the child's printing, as it would in process.
final class OutputForwarder: Sendable {
    private struct State {
        var done = false
        var stop = false
    }

    private let state = LockedValue(State())

    /// Starts copying from `fd` (the host's end of the child's stdout pipe), which it closes at
    /// the end; `remember` hears each whole line (for a crash's last lines).
    init(fd: Int32, plugin: String, remember: @escaping @Sendable (String) -> Void) {
        OwnThread.start("aiorun-isolated-out") { [state] in
            Self.copy(fd, state: state, remember: remember)
        }
    }

    /// Waits until the copy has reached the end of the child's output, or `deadline`; then stops
    /// it (a process outside the child's group may hold the pipe open for good).
    func finish(by deadline: ContinuousClock.Instant) {
        while !state.withLock({ $0.done }) && ContinuousClock.now < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        state.withLock { $0.stop = true }
    }

    private static func copy(_ fd: Int32, state: LockedValue<State>, remember: @Sendable (String) -> Void) {
        var pending: [UInt8] = []
        var writable = true
        var buffer = [UInt8](repeating: 0, count: 65536)
        func write(_ bytes: ArraySlice<UInt8>) {
            guard writable else { return }
            var offset = bytes.startIndex
            while offset < bytes.endIndex {
                let written = bytes.withUnsafeBytes { raw in
                    Glibc.write(1, raw.baseAddress! + (offset - bytes.startIndex), bytes.endIndex - offset)
                }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    writable = false  // closed or broken: keep reading, so the child never blocks on it
                    return
                }
                offset += written
            }
        }
        func flushLines() {
            guard let newline = pending.lastIndex(of: UInt8(ascii: "\n")) else {
                if pending.count >= LineSplitter.outputLimit {
                    write(pending[...])
                    pending.removeAll(keepingCapacity: true)
                }
                return
            }
            write(pending[...newline])
            let lines = pending[..<newline].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            for line in lines.suffix(IsolatedProcess.keptLines) { remember(String(decoding: line, as: UTF8.self)) }
            pending.removeSubrange(...newline)
        }
        while !state.withLock({ $0.stop }) {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending += buffer[0..<count]
            flushLines()
        }
        if !pending.isEmpty {
            remember(String(decoding: pending, as: UTF8.self))
            write(pending[...])
        }
        close(fd)
        state.withLock { $0.done = true }
    }
}

/// Splits bytes into lines as they come; a line longer than its limit is cut there.
struct LineSplitter {
    /// The longest piece of a stdout line written at once (see ``OutputForwarder``).
    static let outputLimit = 64 << 10
    /// The longest stderr line read as one (a log record the child wrote, with its message).
    static let recordLimit = 1 << 20
    /// The longest line kept whole.
    let limit: Int
    private var pending: [UInt8] = []

    /// A splitter that cuts lines at `limit` bytes.
    init(limit: Int) {
        self.limit = limit
    }

    /// The whole lines that `bytes` completes, without their newlines.
    mutating func take(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var rest = bytes
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            pending += rest[..<newline]
            lines += cut()
            lines.append(pending)
            pending.removeAll(keepingCapacity: true)
            rest = rest[(newline + 1)...]
        }
        pending += rest
        lines += cut()
        return lines
    }

    /// What is left after the end: a last line without a newline, if any.
    mutating func rest() -> [String] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [String(decoding: pending, as: UTF8.self)]
    }

    /// The pieces of `limit` bytes that the pending line has grown past.
    private mutating func cut() -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        while pending.count > limit {
            pieces.append(Array(pending[..<limit]))
            pending.removeSubrange(..<limit)
        }
        return pieces
    }
}
