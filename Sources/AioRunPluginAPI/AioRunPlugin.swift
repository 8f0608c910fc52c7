/// A plugin: a type the host creates with its ``PluginContext`` and then runs.
///
/// `run()` is the plugin's async entry, like aiorun's main coroutine. Returning from it leaves the
/// plugin loaded and its tracked work running until the host shuts down. Throwing from it is an
/// unhandled error: logged with the plugin's name, and with `--stop-on-unhandled-errors` it stops
/// the host with exit code 1. `CancellationError` is never treated as an error.
public protocol AioRunPlugin: AnyObject, Sendable {
    /// The plugin's main work. It runs as a tracked task that is cancelled at shutdown.
    func run() async throws
}
