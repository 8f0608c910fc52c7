import AioRun
import AioRunPluginAPI
import Logging

/// One log record a ``PluginTestHarness`` captured.
public struct CapturedLogRecord: Sendable, CustomStringConvertible {
    /// The record's level.
    public let level: Logger.Level
    /// The message.
    public let message: String
    /// Its metadata, as strings, without the `plugin` and `logger` keys the runtime adds.
    public let metadata: [String: String]
    /// The plugin the record is attributed to (`plugin` metadata), or `nil` for the manager's own
    /// records that concern no plugin.
    public let plugin: String?
    /// For the plugin's own records, the logger label it logged with (`context.log` uses the
    /// plugin's name; swift-log through the bridge uses the `Logger`'s label); `nil` for the
    /// manager's records.
    public let label: String?

    /// `warning [plugin] message`, for failure messages.
    public var description: String { "\(level) [\(plugin ?? "-")] \(message)" }
}

/// The records captured so far, behind one lock.
final class CapturedLog: Sendable {
    private let stored = LockedValue<[CapturedLogRecord]>([])

    func append(_ record: CapturedLogRecord) {
        stored.withLock { $0.append(record) }
    }

    var records: [CapturedLogRecord] { stored.withLock { $0 } }
}

/// A swift-log handler that keeps every record in a ``CapturedLog``.
struct CapturingLogHandler: LogHandler {
    let label: String
    let log: CapturedLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        let plugin = merged.removeValue(forKey: "plugin").map { "\($0)" }
        let label = merged.removeValue(forKey: "logger").map { "\($0)" }
        // The harness whose plugin is logging, which may not be this logger's (see CaptureRouting).
        let target = CaptureRouting.log(for: PluginContext.current) ?? log
        target.append(
            CapturedLogRecord(
                level: event.level,
                message: "\(event.message)",
                metadata: merged.mapValues { "\($0)" },
                plugin: plugin,
                label: label
            )
        )
    }
}
