/// Severity of a plugin log record, in swift-log's order (`trace` lowest, `critical` highest).
///
/// Frozen: the seven levels mirror swift-log's and will not grow, so plugins may switch over them
/// without `@unknown default`.
@frozen
public enum PluginLogLevel: Int, Sendable, Comparable, CaseIterable {
    /// Finest detail.
    case trace = 0
    /// Debugging detail.
    case debug
    /// Normal operation.
    case info
    /// Normal but significant.
    case notice
    /// Something unexpected that was handled.
    case warning
    /// An error.
    case error
    /// A failure that needs attention now.
    case critical

    /// Orders levels by severity.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The raw log sink: standard-library types only, so that the static swift-log bridge
/// (`AioRunLogBridge`) can call it without importing this module.
///
/// Arguments: level (``PluginLogLevel`` raw value), the logger's label, the message, and
/// string metadata.
public typealias PluginLogSink =
    @Sendable (_ level: Int, _ label: String, _ message: String, _ metadata: [String: String]) -> Void

/// The API's own small log surface. Records reach the host's log handler with `plugin=<name>`.
///
/// No swift-log `Logger` crosses the plugin boundary (see README "Logging through your own
/// swift-log: the bridge"). To route a plugin's own swift-log loggers here, bootstrap
/// `AioRunLogBridge` with ``sink`` and ``minimumLevel``.
public struct PluginLog: Sendable {
    /// The plugin this log belongs to.
    public let pluginName: String
    /// Records below this level are dropped before they reach the sink.
    public let minimumLevel: PluginLogLevel
    /// The raw sink, for `AioRunLogBridge.bootstrap(sink:minimumLevel:)`.
    public let sink: PluginLogSink

    /// Creates a log surface. Runtime only: the host makes one per plugin.
    @_spi(AioRunRuntime)
    public init(pluginName: String, minimumLevel: PluginLogLevel, sink: @escaping PluginLogSink) {
        self.pluginName = pluginName
        self.minimumLevel = minimumLevel
        self.sink = sink
    }

    /// Logs `message` at `level` with optional string metadata.
    public func log(
        _ level: PluginLogLevel,
        _ message: @autoclosure () -> String,
        metadata: [String: String] = [:]
    ) {
        guard level >= minimumLevel else { return }
        sink(level.rawValue, pluginName, message(), metadata)
    }

    /// Logs at ``PluginLogLevel/trace``.
    public func trace(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.trace, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/debug``.
    public func debug(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.debug, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/info``.
    public func info(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.info, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/notice``.
    public func notice(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.notice, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/warning``.
    public func warning(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.warning, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/error``.
    public func error(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.error, message(), metadata: metadata)
    }
    /// Logs at ``PluginLogLevel/critical``.
    public func critical(_ message: @autoclosure () -> String, metadata: [String: String] = [:]) {
        log(.critical, message(), metadata: metadata)
    }
}
