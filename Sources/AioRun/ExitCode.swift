/// The host's exit codes (DESIGN §5). `run {}` programs use the same meanings.
public enum AioRunExitCode {
    /// Clean shutdown: signal or request, everything stopped in time.
    public static let clean: Int32 = 0
    /// A plugin failed and `--stop-on-unhandled-errors` stopped the host.
    public static let unhandledError: Int32 = 1
    /// Usage error: a bad option or value.
    public static let usage: Int32 = 64
    /// A plugin was rejected while loading; nothing started.
    public static let pluginRejected: Int32 = 65
    /// Shutdown finished, but something was abandoned at a time limit.
    public static let abandoned: Int32 = 70

    /// A second signal `signal` forced an immediate exit: 128 + signal.
    public static func forced(by signal: Int32) -> Int32 { 128 + signal }
}
