import AioRun

/// The values of the host options that a plugin instance may also set for itself (README,
/// Command line): `startup-timeout`, `restart`, `restart-max`, `restart-window`, `isolate`,
/// `memory-limit` and `open-files-limit`. Each is nil
/// when this layer does not set it. The layers, from weakest to strongest, are: the host-wide
/// default from the config file, then from the command line, then the plugin's `[[plugin]]`
/// entry, then the command line's `--OPTION NAME=VALUE` (which `isolate` does not have).
struct PluginOptionValues: Sendable, Equatable {
    /// `startup-timeout`: the time limit from the plugin's start until it is ready.
    var startupTimeout: Duration?
    /// `restart`: whether a failure is restarted.
    var restart: RestartPolicy.Mode?
    /// `restart-max`: the most restarts within the window.
    var restartMax: Int?
    /// `restart-window`: the window over which restarts are counted.
    var restartWindow: Duration?
    /// `isolate`: whether the plugin runs in a child process of its own (README, Isolation).
    var isolate: Bool?
    /// `memory-limit`: the most memory an isolated plugin may use, in bytes.
    var memoryLimit: Int?
    /// `open-files-limit`: an isolated plugin's limit of open file descriptors.
    var openFilesLimit: Int?

    /// These values with each value that `stronger` sets replacing this one's.
    func overridden(by stronger: PluginOptionValues) -> PluginOptionValues {
        PluginOptionValues(
            startupTimeout: stronger.startupTimeout ?? startupTimeout,
            restart: stronger.restart ?? restart,
            restartMax: stronger.restartMax ?? restartMax,
            restartWindow: stronger.restartWindow ?? restartWindow,
            isolate: stronger.isolate ?? isolate,
            memoryLimit: stronger.memoryLimit ?? memoryLimit,
            openFilesLimit: stronger.openFilesLimit ?? openFilesLimit
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
