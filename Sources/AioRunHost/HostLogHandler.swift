import AioRun
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How log records are written.
enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-25T17:51:01.123Z notice [hello] message key=value`, for terminals.
    case text
    /// One JSON object per line: timestamp, level, label, plugin, message, metadata.
    case json

    /// A small number for each format (never 0), to note which one the drop notice uses.
    var code: Int {
        switch self {
        case .text: return 1
        case .json: return 2
        }
    }
}

/// The host's log handler: one line per record on stderr, in text or JSON. `[host]` (or
/// `"plugin":null`) marks the host's own lines; plugins' records, including those routed through
/// the swift-log bridge, carry the plugin's name. Records go through the bounded queue of
/// `BoundedLogWriter.standardError`: logging never waits for stderr's reader, lines never
/// interleave, and the exit path lets the queue drain within a bound (see README, "Failure modes").
struct HostLogHandler: LogHandler {
    /// The least severe level written.
    var logLevel: Logger.Level
    /// Handler-wide metadata.
    var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: LogFormat

    /// Creates a handler for a logger label.
    init(label: String, level: Logger.Level, format: LogFormat = .text) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    /// Reads or writes one metadata value.
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record.
    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let plugin = merged.removeValue(forKey: "plugin").map { "\($0)" }
        let label = merged.removeValue(forKey: "logger").map { "\($0)" } ?? self.label
        switch format {
        case .text:
            let rest = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            Self.write(
                "\(Self.timestamp()) \(event.level.rawValue) [\(plugin ?? "host")] \(event.message)\(rest)\n",
                format: format,
                promptly: event.level >= .notice
            )
        case .json:
            let fields = merged.sorted { $0.key < $1.key }.map {
                "\(JSON.string($0.key)):\(JSON.string("\($0.value)"))"
            }
            Self.write(
                "{\"timestamp\":\(JSON.string(Self.timestamp())),\"level\":\(JSON.string(event.level.rawValue)),"
                    + "\"label\":\(JSON.string(label)),\"plugin\":\(plugin.map(JSON.string) ?? "null"),"
                    + "\"message\":\(JSON.string("\(event.message)")),\"metadata\":{\(fields.joined(separator: ","))}}\n",
                format: format,
                promptly: event.level >= .notice
            )
        }
    }

    /// Writes a host error (a rejected plugin, a usage error found after parsing) as one line in
    /// the chosen format: `aiorun-host: error: …` or a JSON object with level `error`.
    static func writeError(_ message: String, format: LogFormat) {
        switch format {
        case .text:
            write("aiorun-host: error: \(message)\n", format: format)
        case .json:
            write(
                "{\"timestamp\":\(JSON.string(timestamp())),\"level\":\"error\",\"label\":\"aiorun-host\","
                    + "\"plugin\":null,\"message\":\(JSON.string("aiorun-host: error: \(message)")),\"metadata\":{}}\n",
                format: format
            )
        }
    }

    /// Queues one line for stderr and returns at once: a reader that is slow or gone never
    /// holds up the thread that logs (see README, "Failure modes"). Lines that do not fit the
    /// bounded queue are dropped and counted, and a notice in `format` says how many.
    static func write(_ line: String, format: LogFormat, promptly: Bool = true) {
        if dropNoticeFormat.exchange(format.code, ordering: .relaxed) != format.code {
            BoundedLogWriter.standardError.setDropNotice { count in dropNotice(count, format: format) }
        }
        BoundedLogWriter.standardError.write(line, promptly: promptly)
    }

    /// The format the writer's drop notice was last set to (`LogFormat.code`), 0 for none.
    private static let dropNoticeFormat = Atomic<Int>(0)

    /// `N log lines dropped (stderr was not read fast enough)`, as a warning in `format`.
    static func dropNotice(_ count: Int, format: LogFormat) -> String {
        let message = "\(count) log \(count == 1 ? "line" : "lines") dropped (stderr was not read fast enough)"
        switch format {
        case .text:
            return "\(timestamp()) warning [host] \(message)\n"
        case .json:
            return "{\"timestamp\":\(JSON.string(timestamp())),\"level\":\"warning\",\"label\":\"aiorun-host\","
                + "\"plugin\":null,\"message\":\(JSON.string(message)),\"metadata\":{\"dropped\":\"\(count)\"}}\n"
        }
    }

    /// UTC with milliseconds, ISO 8601.
    static func timestamp() -> String { LogTimestamp.now() }
}

/// Minimal JSON string encoding for log lines.
enum JSON {
    /// `text` as a quoted JSON string with the required escapes.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
