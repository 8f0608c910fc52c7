import Logging

/// The host's logging: every logger of the process, the host's and the plugins', writes through
/// ``HostLogHandler`` (see README, Command line, `--log-format`).
enum HostLogging {
    /// Bootstraps swift-log with ``HostLogHandler`` at `level` in `format` (once per process) and
    /// returns the host's own logger.
    static func start(level: Logger.Level, format: LogFormat) -> Logger {
        LoggingSystem.bootstrap { HostLogHandler(label: $0, level: level, format: format) }
        var logger = Logger(label: "aiorun-host")
        logger.logLevel = level
        return logger
    }
}
