/// How a plugin becomes ready, declared in its export (README, "Readiness and ordered start").
///
/// The host logs `plugin <name> ready in <t>s` for each plugin, and announces
/// `ready: N plugins running` (and systemd's `READY=1`) only once every plugin is ready. With
/// ordered start (the default), a plugin's `run()` starts only after every plugin before it is
/// ready.
public enum PluginReadiness: Sendable, Equatable {
    /// Ready as soon as its `run()` has been started: the default, so plugins that say nothing
    /// keep working as before.
    case atStart
    /// Ready when the plugin calls ``PluginContext/reportReady()`` (for a server: once it is
    /// listening). Until then the host waits, within the plugin's startup time limit.
    case whenReported
}
