/// What a plugin tells the host about its own state, and what it can read of the host's (API 2.1;
/// README, "Readiness and ordered start", "Restart on failure" and "Drain delay").
extension PluginContext {
    /// Says that the plugin is ready: for a plugin exported with
    /// ``PluginReadiness/whenReported``, the host logs `plugin <name> ready in <t>s` and moves on
    /// to the next plugin. Call it once the plugin serves (for a server: once it listens). Later
    /// calls, and calls from a plugin that is ready at start, do nothing.
    public func reportReady() {
        scope.reportReady()
    }

    /// Says that the plugin has failed although its `run()` has not thrown (a server whose
    /// listener died, say). With the restart policy `on-failure` the host tears this instance down
    /// and creates a fresh one within the plugin's restart budget; otherwise the failure is
    /// logged as an unhandled error (and stops the host under `--stop-on-unhandled-errors`).
    /// Before the plugin is ready, it fails the start.
    public func reportFailure(_ error: any Error) {
        scope.reportFailure(error)
    }

    /// Whether the host is draining: true from the first shutdown trigger on (through
    /// `--drain-delay`, while everything still serves, and during teardown), and while this
    /// instance is torn down for a restart. A readiness probe answers 503 when it is true.
    public var isDraining: Bool { scope.isDraining }

    /// Whether the host counts this plugin as ready (see ``reportReady()``).
    public var isReady: Bool { scope.isReady }

    /// This plugin's time limit for its teardown (README, "How shutdown proceeds"): read it to
    /// keep a framework's own shutdown timeout within it.
    public var shutdownTimeout: Duration { scope.shutdownTimeout }
}
