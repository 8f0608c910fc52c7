#if canImport(Glibc)
import Glibc
#endif

extension Host {
    /// What the process needs before anything else runs, argument parsing included (README,
    /// Failure modes):
    /// - a closed standard stream (`2>&-`, `>&-`) is opened on `/dev/null`, so that no file the
    ///   host or a plugin opens later becomes fd 1 or 2 and receives log lines or prints;
    /// - SIGPIPE is ignored: a reader that went away makes a write fail with EPIPE instead of
    ///   killing the host before it can exit with its code;
    /// - SIGHUP, SIGUSR1 and SIGUSR2 are ignored until the host's own handling takes them over,
    ///   so that one arriving while arguments and the config file are read does not end the
    ///   process (SIGINT and SIGTERM keep their default until then: nothing has started).
    public static func prepareProcess() {
        StartupSteps.beginMain()
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd {
                dup2(null, fd)
                close(null)
            }
        }
        signal(SIGPIPE, SIG_IGN)
        for number in [SIGHUP, SIGUSR1, SIGUSR2] { signal(number, SIG_IGN) }
    }
}
