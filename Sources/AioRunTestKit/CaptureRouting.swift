import AioRun
import AioRunPluginAPI

/// Sends a record logged from inside a harness's plugin to that harness's capture, whichever
/// harness's logger it reached.
///
/// A plugin that logs through swift-log bootstraps `AioRunLogBridge` once per process with the
/// sink of the first context it saw (README, "Logging through your own swift-log: the bridge");
/// in a test process that runs several harnesses one after another, every later plugin's swift-log
/// records reach the first harness's logger. The task that logs still has its own
/// `PluginContext.current`, so the record is routed by it.
enum CaptureRouting {
    /// Each live harness's context and capture, by the context's identity. The context is held so
    /// that its identity cannot be reused while the entry exists.
    private static let routes = LockedValue<[ObjectIdentifier: (context: PluginContext, log: CapturedLog)]>([:])

    /// Routes records logged with `context` current to `log`.
    static func register(_ context: PluginContext, to log: CapturedLog) {
        routes.withLock { $0[ObjectIdentifier(context)] = (context, log) }
    }

    /// Stops routing for `context` (its harness is gone).
    static func unregister(_ context: PluginContext) {
        _ = routes.withLock { $0.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// The capture for records logged while `context` is current, if a harness owns it.
    static func log(for context: PluginContext?) -> CapturedLog? {
        guard let context else { return nil }
        return routes.withLock { $0[ObjectIdentifier(context)]?.log }
    }
}
