import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The default log handler of the in-process `run {}`: one text line per record on stderr,
/// `2026-11-25T18:00:37.328Z info [main] message key=value`, through the bounded queue of
/// ``BoundedLogWriter/standardError``, so that a slow or stalled stderr reader never holds up
/// the lifecycle (see README, "Failure modes"). The name in brackets is the unit's (`main`) for
/// its records, else the logger's label.
public struct StandardErrorLogHandler: LogHandler {
    /// The least severe level written.
    public var logLevel: Logger.Level
    /// Handler-wide metadata.
    public var metadata: Logger.Metadata = [:]
    private let label: String

    /// Creates a handler for a logger label. The queue's "lines dropped" notice then takes the
    /// same text form: `… warning [<label>] N log lines dropped (…)`.
    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
        BoundedLogWriter.standardError.setDropNotice { count in
            "\(LogTimestamp.now()) warning [\(label)] \(count) log \(count == 1 ? "line" : "lines") dropped (stderr was not read fast enough)\n"
        }
    }

    /// Reads or writes one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Queues one record; returns at once.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let name = merged.removeValue(forKey: "plugin").map { "\($0)" } ?? label
        merged.removeValue(forKey: "logger")
        let rest = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        BoundedLogWriter.standardError.write(
            "\(LogTimestamp.now()) \(event.level.rawValue) [\(name)] \(event.message)\(rest)\n",
            promptly: event.level >= .notice
        )
    }
}

/// Timestamps for log lines.
public enum LogTimestamp {
    /// The current time in UTC with milliseconds, ISO 8601: `2026-11-25T18:00:37.328Z`.
    public static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let milliText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(milliText)Z"
    }
}
