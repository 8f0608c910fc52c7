import AioRun

/// The values of the host options that a plugin instance may also set for itself (README,
/// Command line): `startup-timeout`, `restart`, `restart-max` and `restart-window`. Each is nil
/// when this layer does not set it. The layers, from weakest to strongest, are: the host-wide
/// default from the config file, then from the command line, then the plugin's `[[plugin]]`
/// entry, then the command line's `--OPTION NAME=VALUE`.
struct PluginOptionValues: Sendable, Equatable {
    /// `startup-timeout`: the time limit from the plugin's start until it is ready.
    var startupTimeout: Duration?
    /// `restart`: whether a failure is restarted.
    var restart: RestartPolicy.Mode?
    /// `restart-max`: the most restarts within the window.
    var restartMax: Int?
    /// `restart-window`: the window over which restarts are counted.
    var restartWindow: Duration?

    /// These values with each value that `stronger` sets replacing this one's.
    func overridden(by stronger: PluginOptionValues) -> PluginOptionValues {
        PluginOptionValues(
            startupTimeout: stronger.startupTimeout ?? startupTimeout,
            restart: stronger.restart ?? restart,
            restartMax: stronger.restartMax ?? restartMax,
            restartWindow: stronger.restartWindow ?? restartWindow
        )
    }

    /// `base` with each restart value set here replacing its own (the delays stay `base`'s).
    func restartPolicy(over base: RestartPolicy) -> RestartPolicy {
        var policy = base
        policy.mode = restart ?? base.mode
        policy.maxRestarts = restartMax ?? base.maxRestarts
        policy.window = restartWindow ?? base.window
        return policy
    }
}
