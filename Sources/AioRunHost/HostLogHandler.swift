import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The host's text log handler: one line per record on stderr,
/// `2026-11-25T17:51:01.123Z notice [hello] message key=value`. `[host]` marks the host's own
/// lines. Each record is written with a single `write(2)`, unbuffered, so lines never interleave
/// and nothing is lost at an immediate exit.
public struct HostLogHandler: LogHandler {
    /// The least severe level written.
    public var logLevel: Logger.Level
    /// Handler-wide metadata.
    public var metadata: Logger.Metadata = [:]
    private let label: String

    /// Creates a handler for a logger label.
    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    /// Reads or writes one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let plugin = merged.removeValue(forKey: "plugin").map { "\($0)" } ?? "host"
        let rest = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let line = "\(Self.timestamp()) \(event.level.rawValue) [\(plugin)] \(event.message)\(rest)\n"
        Self.write(line)
    }

    private static let writeLock = Mutex(())

    static func write(_ line: String) {
        var bytes = Array(line.utf8)
        writeLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
        bytes.removeAll()
    }

    /// UTC with milliseconds, ISO 8601.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let milliText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(milliText)Z"
    }
}
