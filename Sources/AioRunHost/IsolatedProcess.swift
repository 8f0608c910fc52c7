import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// An isolated plugin's child process, seen from the host (README, "Isolation"): started from a
/// thread of its own that then watches it until it ends (the kernel's parent-death signal is
/// tied to that thread, so the child dies with the host, even of SIGKILL). The watcher re-emits
/// the child's log lines with the plugin's name, takes its channel's messages, samples its
/// memory and open files against its limits, and kills it (its whole process group) when it
/// exceeds one, closes its channel, or outlives the time limit of a stop. A second thread copies
/// its standard output to the host's, whole lines at a time.
final class IsolatedProcess: Sendable {
    /// Why the host killed the process.
    enum Kill: Sendable {
        /// Its resident memory exceeded its limit.
        case memory(limit: Int, resident: Int)
        /// It closed its channel to the host while it still ran.
        case channelLost
        /// It did not exit within this time after it was told to stop.
        case timeLimit(Duration)
    }

    /// How the process ended, and what it said before.
    struct Ending: Sendable {
        /// Its exit status.
        let status: SelfChild.Status
        /// Why the host killed it, if it did.
        let killed: Kill?
        /// Its own shutdown's trigger, if one started (its kind and reason; see
        /// ``WorkerChannel/fields(of:)``).
        let trigger: (kind: ChildShutdown, reason: String)?
        /// Its teardown's report, if it sent one.
        let teardown: RemoteTeardown?
        /// The last lines it wrote, oldest first.
        let lastLines: [String]
        /// How long it ran.
        let lifetime: Duration
        /// The open-files limit it was seen at, if it was.
        let reachedOpenFilesLimit: Int?

        /// `died of signal 11 (SIGSEGV)`, `exited with code 2`, `exceeded its memory limit of …`.
        var how: String {
            var how: String
            switch killed {
            case .memory(let limit, let resident):
                how =
                    "exceeded its memory limit of \(Self.mebibytes(limit)) (resident \(Self.mebibytes(resident))) and was killed (SIGKILL)"
            case .channelLost:
                how = "closed its channel to the host and was killed (SIGKILL)"
            case .timeLimit(let limit):
                how = "did not exit within \(limit.seconds) of being told to stop and was killed (SIGKILL)"
            case nil:
                switch status {
                case .exited(WorkerChannel.channelLostExitCode):
                    how = "lost its channel to the host (plugin code closed it) and exited"
                case .exited(let code): how = "exited with code \(code)"
                case .signaled(let signal): how = "died of signal \(signal) (\(SelfChild.signalName(signal)))"
                case .timedOut: how = "was killed"
                }
            }
            if let limit = reachedOpenFilesLimit { how += " (it had reached its open-files limit of \(limit))" }
            return how
        }

        /// Whether it ended as a teardown the host asked for ends: exit code 0, or 70
        /// (something abandoned, which its teardown report says).
        var endedInOrder: Bool { endedAs(.host) }

        /// Whether it ended as a shutdown of `kind` ends: with one of that shutdown's exit
        /// codes, not killed.
        func endedAs(_ kind: ChildShutdown) -> Bool {
            guard killed == nil, case .exited(let code) = status else { return false }
            return kind.exitCodes.contains(code)
        }

        /// `64.0 MiB`.
        static func mebibytes(_ bytes: Int) -> String {
            let tenths = (bytes * 10 + (1 << 19)) >> 20
            return "\(tenths / 10).\(tenths % 10) MiB"
        }
    }

    /// Why the process could not be started.
    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    struct State {
        var stopDeadline: ContinuousClock.Instant?
        var stopLimit: Duration = .zero
        var trigger: (kind: ChildShutdown, reason: String)?
        var teardown: RemoteTeardown?
        var ending: Ending?
        var waiters: [CheckedContinuation<Ending, Never>] = []
        var lastLines: [String] = []
        /// Whether a held child said its plugin is created (``IsolatedWorker/holdsBeforeStart``).
        var created = false
    }

    /// The plugin instance's name.
    let name: String
    /// The child's process id (it leads its own process group).
    let pid: pid_t
    /// The host's end of the channel; the watcher alone reads it and closes it.
    let channel: Int32
    /// Whether the channel is still open: a send holds this lock, so it never reaches a
    /// descriptor the watcher closed (and the system may have given to another file since).
    private let channelOpen = LockedValue(true)
    let state = LockedValue(State())
    let logger: Logger

    private init(name: String, pid: pid_t, channel: Int32, logger: Logger) {
        self.name = name
        self.pid = pid
        self.channel = channel
        self.logger = logger
    }

    /// Sends `fields` to the child unless the channel is closed; never waits (a child that does
    /// not read is killed at its time limit anyway).
    private func send(_ fields: [(String, String)]) {
        channelOpen.withLock { open in
            if open { IsolationChannel.send(fields, on: channel, wait: false) }
        }
    }

    /// Closes the channel, once, after the last message was taken.
    func closeChannel() {
        channelOpen.withLock { open in
            if open { close(channel) }
            open = false
        }
    }

    /// How many of its last lines an ending keeps.
    static let keptLines = 5

    /// Starts `worker`'s child with `limits` and returns once it runs; `ready` is called when its
    /// plugin is ready.
    static func start(
        _ worker: IsolatedWorker,
        limits: IsolationSettings,
        logger: Logger,
        ready: @escaping @Sendable () -> Void
    ) async throws(StartFailure) -> IsolatedProcess {
        let started: Result<IsolatedProcess, StartFailure> = await withCheckedContinuation { continuation in
            spawnAndWatch(worker, limits: limits, logger: logger, ready: ready) { continuation.resume(returning: $0) }
        }
        return try started.get()
    }

    /// ``start(_:limits:logger:ready:)`` for a caller that may block (the host's loading thread):
    /// returns once the child runs.
    static func startBlocking(
        _ worker: IsolatedWorker,
        limits: IsolationSettings,
        logger: Logger,
        ready: @escaping @Sendable () -> Void
    ) throws(StartFailure) -> IsolatedProcess {
        let started = LockedValue<Result<IsolatedProcess, StartFailure>?>(nil)
        spawnAndWatch(worker, limits: limits, logger: logger, ready: ready) { result in
            started.withLock { $0 = result }
        }
        while true {
            if let result = started.withLock({ $0 }) { return try result.get() }
            var pause = timespec(tv_sec: 0, tv_nsec: 200_000)
            nanosleep(&pause, nil)
        }
    }

    /// Spawns the child from a thread of its own, hands the result to `delivered`, and watches
    /// the child on that thread until it ends (the parent-death signal is tied to the thread that
    /// spawned the child, so it must live as long as the child).
    private static func spawnAndWatch(
        _ worker: IsolatedWorker,
        limits: IsolationSettings,
        logger: Logger,
        ready: @escaping @Sendable () -> Void,
        delivered: @escaping @Sendable (Result<IsolatedProcess, StartFailure>) -> Void
    ) {
        OwnThread.start("aiorun-isolated") {
            let spawned = Result { () throws(StartFailure) in try spawn(worker, logger: logger) }
            delivered(spawned.map(\.process))
            if case .success(let (process, pipes)) = spawned {
                process.watch(pipes: pipes, limits: limits, ready: ready)
            }
        }
    }

    /// For a held child: waits until it says its plugin is created, or ends (its ending is
    /// returned: it could not load or create the plugin), or `giveUp` says to stop waiting.
    func waitUntilCreated(giveUp: () -> Bool) -> Ending? {
        while true {
            let (created, ending) = state.withLock { ($0.created, $0.ending) }
            if let ending { return ending }
            if created || giveUp() { return nil }
            var pause = timespec(tv_sec: 0, tv_nsec: 200_000)
            nanosleep(&pause, nil)
        }
    }

    /// Lets a held child run its plugin.
    func releaseHold() {
        send([("START", "1")])
    }

    /// Tells the child to tear its plugin down, for `reason`, and kills it if it has not exited
    /// `limit` later. Once.
    func stop(reason: String, within limit: Duration) {
        let first = state.withLock { state -> Bool in
            guard state.stopDeadline == nil, state.ending == nil else { return false }
            state.stopDeadline = .now + limit
            state.stopLimit = limit
            return true
        }
        if first { send([("STOP", reason)]) }
    }

    /// Whether the host told it to stop.
    var stopRequested: Bool { state.withLock { $0.stopDeadline != nil } }

    /// Tells the child that the host is draining (README, "Drain delay").
    func drain() {
        send([("DRAIN", "1")])
    }

    /// Waits until the process has ended and everything it wrote is out.
    func ended() async -> Ending {
        await withCheckedContinuation { continuation in
            let ending = state.withLock { state -> Ending? in
                if let ending = state.ending { return ending }
                state.waiters.append(continuation)
                return nil
            }
            if let ending { continuation.resume(returning: ending) }
        }
    }

    // MARK: - Starting

    /// The host's ends of the child's standard output and error.
    struct Pipes: Sendable {
        let output: Int32
        let error: Int32
    }

    private static func spawn(
        _ worker: IsolatedWorker,
        logger: Logger
    ) throws(StartFailure) -> (
        process: IsolatedProcess, pipes: Pipes
    ) {
        func failure(_ what: String) -> StartFailure {
            StartFailure(description: "cannot start its process: \(what): \(String(cString: strerror(errno)))")
        }
        guard let pair = IsolationChannel.makePair() else { throw failure("socketpair") }
        var output: [Int32] = [-1, -1]
        var error: [Int32] = [-1, -1]
        // The host's ends stay open only if the child starts.
        var hostEnds = [pair.host]
        var started = false
        defer { if !started { for fd in hostEnds where fd >= 0 { close(fd) } } }
        guard let pipe2 = Self.pipe2, pipe2(&output, O_CLOEXEC) == 0 else {
            let problem = failure("pipe2")
            close(pair.child)
            throw problem
        }
        hostEnds.append(output[0])
        guard pipe2(&error, O_CLOEXEC) == 0 else {
            let problem = failure("pipe2")
            for fd in [pair.child, output[1]] { close(fd) }
            throw problem
        }
        hostEnds.append(error[0])
        // The child's ends, each moved above 2 and 3 so that its dup2 to 1, 2 and 3 always
        // makes a copy (which drops close-on-exec) rather than a no-op.
        let childEnds = [output[1], error[1], pair.child].map { fcntl($0, F_DUPFD_CLOEXEC, 10) }
        for fd in [output[1], error[1], pair.child] { close(fd) }
        defer { for fd in childEnds where fd >= 0 { close(fd) } }
        guard !childEnds.contains(-1) else { throw StartFailure(description: "cannot start its process: fcntl failed") }
        // Reads of stderr never block the watcher.
        _ = fcntl(error[0], F_SETFL, fcntl(error[0], F_GETFL) | O_NONBLOCK)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, childEnds[0], 1)
        posix_spawn_file_actions_adddup2(&actions, childEnds[1], 2)
        posix_spawn_file_actions_adddup2(&actions, childEnds[2], IsolationChannel.childDescriptor)
        if let closeFrom = SelfChild.closeFrom { _ = closeFrom(&actions, IsolationChannel.childDescriptor + 1) }

        // A group of its own: a Ctrl-C on the terminal is the host's, which stops the plugins in
        // reverse order; the child hears of it from the host.
        let spawned = SelfChild.spawnSelf(
            mode: IsolatedWorker.mode,
            arguments: worker.arguments,
            actions: &actions,
            environment: childEnvironment()
        )
        guard case .success(let pid) = spawned else {
            if case .failure(let spawnError) = spawned { errno = spawnError.code }
            throw failure("posix_spawn")
        }
        started = true
        // A forced exit of the host kills its process group (see terminateProcess).
        ChildProcesses.register(pid)
        let process = IsolatedProcess(name: worker.name, pid: pid, channel: pair.host, logger: logger)
        return (process, Pipes(output: output[0], error: error[0]))
    }

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    /// glibc's `pipe2`, which Swift's Glibc module does not declare; found with `dlsym`. Both
    /// ends close-on-exec from the start, so that no process another thread starts meanwhile
    /// inherits them (it would hold the child's output open past the child's end).
    private static let pipe2: Pipe2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")
        .map { unsafeBitCast($0, to: Pipe2.self) }

    /// The host's environment for the child, without what names the host's own supervisor
    /// (the child reports to the host, never to systemd), with the channel's descriptor. Swift's
    /// crash backtracer is off unless `SWIFT_BACKTRACE` says otherwise: it symbolicates for
    /// half a minute in a debug build before the crashed process ends, which delays the
    /// restart; the runtime's own crash message still says what failed.
    private static func childEnvironment() -> [String] {
        let dropped = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]
        var variables: [String] = []
        if var entry = SelfChild.currentEnvironment() {
            while let pointer = entry.pointee {
                let variable = String(cString: pointer)
                let name = variable.split(separator: "=", maxSplits: 1).first.map(String.init) ?? variable
                if !dropped.contains(name) && name != IsolationChannel.environmentVariable {
                    variables.append(variable)
                }
                entry += 1
            }
        }
        if !variables.contains(where: { $0.hasPrefix("SWIFT_BACKTRACE=") }) {
            variables.append("SWIFT_BACKTRACE=enable=no")
        }
        variables.append("\(IsolationChannel.environmentVariable)=\(IsolationChannel.childDescriptor)")
        return variables
    }
}
