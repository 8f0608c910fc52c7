import Logging
import Synchronization

/// Routes a plugin's own swift-log loggers (and its libraries' loggers) to the host's handler.
///
/// Link this static product against the plugin's own swift-log, then call
/// `AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)`
/// once, early in the plugin's initializer. It deliberately does not import `AioRunPluginAPI`: the
/// sink is a closure of standard-library types.
public enum AioRunLogBridge {
    private static let installed = Mutex(false)

    /// Installs the bridge as this swift-log copy's logging system.
    ///
    /// swift-log allows one bootstrap per copy; a plugin loaded twice under aliases shares one
    /// copy, so later calls are no-ops and return `false`. The host attributes each record to the
    /// plugin whose task is logging, so aliases still get their own name.
    @discardableResult
    public static func bootstrap(
        sink:
            @escaping @Sendable (_ level: Int, _ label: String, _ message: String, _ metadata: [String: String]) -> Void,
        minimumLevel: Int = 2
    ) -> Bool {
        let first = installed.withLock { done -> Bool in
            if done { return false }
            done = true
            return true
        }
        guard first else { return false }
        let level = Logger.Level.allCases.first { rank($0) == minimumLevel } ?? .info
        LoggingSystem.bootstrap { label in BridgeLogHandler(label: label, sink: sink, logLevel: level) }
        return true
    }

    static func rank(_ level: Logger.Level) -> Int {
        switch level {
        case .trace: return 0
        case .debug: return 1
        case .info: return 2
        case .notice: return 3
        case .warning: return 4
        case .error: return 5
        case .critical: return 6
        }
    }
}

/// A swift-log handler that forwards to the host's sink with flattened string metadata.
struct BridgeLogHandler: LogHandler {
    let label: String
    let sink: @Sendable (Int, String, String, [String: String]) -> Void
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider? = nil

    init(
        label: String,
        sink: @escaping @Sendable (Int, String, String, [String: String]) -> Void,
        logLevel: Logger.Level
    ) {
        self.label = label
        self.sink = sink
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let extra = event.metadata {
            merged.merge(extra) { _, new in new }
        }
        var flat: [String: String] = [:]
        for (key, value) in merged { flat[key] = "\(value)" }
        sink(AioRunLogBridge.rank(event.level), label, "\(event.message)", flat)
    }
}
