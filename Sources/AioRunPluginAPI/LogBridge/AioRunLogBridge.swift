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
    /// plugin whose task is logging, so aliases still get their own name; a record logged outside
    /// any plugin task (an NIO event-loop thread, a plain `Thread`) is named after the first
    /// instance. For those, hand the framework a `Logger` from
    /// ``logger(label:sink:minimumLevel:)``, bound to its instance.
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
        let logLevel = Self.level(ofRank: minimumLevel)
        LoggingSystem.bootstrap { label in BridgeLogHandler(label: label, sink: sink, logLevel: logLevel) }
        return true
    }

    /// A swift-log handler bound to one plugin instance, for a `Logger` that the plugin hands to
    /// its framework explicitly (README, "Logging through your own swift-log: the bridge").
    ///
    /// ``bootstrap(sink:minimumLevel:)`` installs one handler factory per swift-log copy, and
    /// aliases of one library share that copy: it keeps the *first* instance's sink, and the host
    /// tells the instances apart by the plugin task that is logging. Code that logs outside the
    /// plugin's tasks (NIO event-loop threads, a `Thread` of the plugin's own, a C library's
    /// callback) has no such task, so its records would all be named after the first instance.
    /// A handler made here carries *this* instance's sink: records logged through it on any
    /// thread reach the host named after this instance. Give a `Logger` made with it to the
    /// framework (Vapor's `Application.make(_:_:logger:)` and
    /// `app.http.server.configuration.logger`, a `Thread`'s loop, …):
    ///
    ///     let logger = Logger(label: "web") { label in
    ///         AioRunLogBridge.handler(label: label, sink: context.log.sink,
    ///                                 minimumLevel: context.log.minimumLevel.rawValue)
    ///     }
    ///
    /// Inside a plugin task the host still names the record after the task's plugin, which is
    /// this instance for everything the instance runs.
    ///
    /// - Parameters:
    ///   - label: the logger's label, passed on to the sink.
    ///   - sink: this instance's `context.log.sink`.
    ///   - minimumLevel: this instance's `context.log.minimumLevel.rawValue`; records below it are
    ///     dropped before they reach the sink.
    public static func handler(
        label: String,
        sink:
            @escaping @Sendable (_ level: Int, _ label: String, _ message: String, _ metadata: [String: String]) -> Void,
        minimumLevel: Int = 2
    ) -> any LogHandler {
        BridgeLogHandler(label: label, sink: sink, logLevel: level(ofRank: minimumLevel))
    }

    /// A `Logger` whose handler is ``handler(label:sink:minimumLevel:)``: bound to one plugin
    /// instance, so its records carry that instance's name from any thread.
    ///
    ///     let logger = AioRunLogBridge.logger(label: "web", sink: context.log.sink,
    ///                                         minimumLevel: context.log.minimumLevel.rawValue)
    public static func logger(
        label: String,
        sink:
            @escaping @Sendable (_ level: Int, _ label: String, _ message: String, _ metadata: [String: String]) -> Void,
        minimumLevel: Int = 2
    ) -> Logger {
        Logger(label: label) { label in handler(label: label, sink: sink, minimumLevel: minimumLevel) }
    }

    static func level(ofRank rank: Int) -> Logger.Level {
        Logger.Level.allCases.first { self.rank($0) == rank } ?? .info
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
