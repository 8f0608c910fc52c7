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
        let trigger: (kind: String, reason: String)?
        /// Its teardown's report, if it sent one.
        let teardown: RemoteTeardown?
        /// The last lines it wrote, oldest first.
        let lastLines: [String]
        /// How long it ran.
        let lifetime: Duration
        /// Whether it had reached its open-files limit.
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

        /// Whether it ended as a finished teardown does: exit code 0, or 70 (something
        /// abandoned, which its teardown report says).
        var endedInOrder: Bool {
            killed == nil && (status == .exited(AioRunExitCode.clean) || status == .exited(AioRunExitCode.abandoned))
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

    private struct State {
        var stopDeadline: ContinuousClock.Instant?
        var stopLimit: Duration = .zero
        var trigger: (kind: String, reason: String)?
        var teardown: RemoteTeardown?
        var ending: Ending?
        var waiters: [CheckedContinuation<Ending, Never>] = []
        var lastLines: [String] = []
        var outputDone = false
    }

    /// The plugin instance's name.
    let name: String
    /// The child's process id (it leads its own process group).
    let pid: pid_t
    private let channel: Int32
    private let state = LockedValue(State())
    private let logger: Logger

    private init(name: String, pid: pid_t, channel: Int32, logger: Logger) {
        self.name = name
        self.pid = pid
        self.channel = channel
        self.logger = logger
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
            OwnThread.start("aiorun-isolated") {
                let spawned = Result { () throws(StartFailure) in try spawn(worker, logger: logger) }
                continuation.resume(returning: spawned.map(\.process))
                if case .success(let (process, pipes)) = spawned {
                    process.watch(pipes: pipes, limits: limits, ready: ready)
                }
            }
        }
        return try started.get()
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
        if first { IsolationChannel.send([("STOP", reason)], on: channel) }
    }

    /// Whether the host told it to stop.
    var stopRequested: Bool { state.withLock { $0.stopDeadline != nil } }

    /// Tells the child that the host is draining (README, "Drain delay").
    func drain() {
        IsolationChannel.send([("DRAIN", "1")], on: channel)
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
    private struct Pipes: Sendable {
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
        guard let pipe2 = Self.pipe2, pipe2(&output, O_CLOEXEC) == 0, pipe2(&error, O_CLOEXEC) == 0 else {
            throw failure("pipe2")
        }
        // The child's ends, each moved above 2 and 3 so that its dup2 to 1, 2 and 3 always
        // makes a copy (which drops close-on-exec) rather than a no-op.
        let childEnds = [output[1], error[1], pair.child].map { fcntl($0, F_DUPFD_CLOEXEC, 10) }
        for fd in [output[1], error[1], pair.child] { close(fd) }
        defer { for fd in childEnds { close(fd) } }
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
            for fd in [pair.host, output[0], error[0]] { close(fd) }
            if case .failure(let spawnError) = spawned { errno = spawnError.code }
            throw failure("posix_spawn")
        }
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

// MARK: - Watching

extension IsolatedProcess {
    /// How often the memory and open files are sampled when a limit is set.
    static let sampleInterval: Duration = .milliseconds(50)
    /// How long a closed channel may precede the process's exit before it counts as lost.
    static let channelGrace: Duration = .milliseconds(250)
    /// How long the watcher waits, after the exit, for the last of its standard output.
    static let outputGrace: Duration = .seconds(1)

    /// The watcher's loop, on the thread that started the child, until the child is reaped.
    private func watch(pipes: Pipes, limits: IsolationSettings, ready: @escaping @Sendable () -> Void) {
        let started = ContinuousClock.now
        let outputName = name
        OwnThread.start("aiorun-isolated-out") { [self] in
            forwardOutput(pipes.output, plugin: outputName)
        }
        var errorLines = LineSplitter()
        var channelOpen = true
        var errorOpen = true
        var channelClosedAt: ContinuousClock.Instant?
        var killed: Kill?
        var openFilesWarned: Int?
        var nextSample = ContinuousClock.now
        let sampling = limits.memoryLimit != nil || limits.openFilesLimit != nil
        var raw: Int32 = 0
        // Readable once the child has ended (Linux 5.3): its end wakes the watcher at once, even
        // after its pipes closed. Without it, a closed pipe makes the watcher look every 5 ms.
        let exitFD = Self.pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if exitFD >= 0 { close(exitFD) } }

        while true {
            if waitpid(pid, &raw, WNOHANG) == pid { break }
            let now = ContinuousClock.now
            if sampling && now >= nextSample {
                nextSample = now + Self.sampleInterval
                if killed == nil, let limit = limits.memoryLimit, let resident = Self.residentBytes(of: pid),
                    resident > limit
                {
                    killed = .memory(limit: limit, resident: resident)
                    kill(-pid, SIGKILL)
                }
                if let limit = limits.openFilesLimit, openFilesWarned == nil,
                    let open = Self.openFiles(of: pid), open >= limit
                {
                    openFilesWarned = limit
                    logger.warning(
                        "plugin \(name) has reached its open-files limit of \(limit) (\(open) open)",
                        metadata: ["plugin": "\(name)"]
                    )
                }
            }
            if killed == nil, let closed = channelClosedAt, now - closed >= Self.channelGrace {
                killed = .channelLost
                kill(-pid, SIGKILL)
            }
            let (deadline, limit) = state.withLock { ($0.stopDeadline, $0.stopLimit) }
            if killed == nil, let deadline, now >= deadline {
                killed = .timeLimit(limit)
                kill(-pid, SIGKILL)
            }

            var wait: Duration = sampling ? Self.sampleInterval : .milliseconds(500)
            if let deadline, killed == nil { wait = min(wait, max(.zero, deadline - now)) }
            if let closed = channelClosedAt, killed == nil {
                wait = min(wait, max(.zero, closed + Self.channelGrace - now))
            }
            if exitFD < 0 && (!channelOpen || !errorOpen) { wait = min(wait, .milliseconds(5)) }
            var fds = [
                pollfd(fd: channelOpen ? channel : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: errorOpen ? pipes.error : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0),
            ]
            let (seconds, attoseconds) = wait.components
            let milliseconds = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 1000))
            _ = poll(&fds, 3, milliseconds)
            if channelOpen && fds[0].revents != 0 {
                if !takeMessages(wait: false, ready: ready) {
                    channelOpen = false
                    channelClosedAt = .now
                }
            }
            if errorOpen && fds[1].revents != 0 {
                errorOpen = readErrors(pipes.error, into: &errorLines)
            }
        }
        // Reaped: what it wrote and sent before its end is taken first.
        while readErrors(pipes.error, into: &errorLines) {}
        for line in errorLines.rest() { emit(line) }
        if channelOpen { _ = takeMessages(wait: false, ready: ready) }
        let outputDeadline = ContinuousClock.now + Self.outputGrace
        while !state.withLock({ $0.outputDone }) && ContinuousClock.now < outputDeadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        ChildProcesses.unregister(pid)
        close(pipes.error)
        close(channel)

        let waiters = state.withLock { state -> [CheckedContinuation<Ending, Never>] in
            state.ending = Ending(
                status: SelfChild.status(raw),
                killed: killed,
                trigger: state.trigger,
                teardown: state.teardown,
                lastLines: state.lastLines,
                lifetime: .now - started,
                reachedOpenFilesLimit: openFilesWarned
            )
            defer { state.waiters = [] }
            return state.waiters
        }
        let ending = state.withLock { $0.ending! }
        for waiter in waiters { waiter.resume(returning: ending) }
    }

    /// Takes every queued message; false once the channel is closed.
    private func takeMessages(wait: Bool, ready: @Sendable () -> Void) -> Bool {
        while true {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(channel, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
            guard count > 0 else { return false }
            take(IsolationChannel.decode(buffer[0..<count]), ready: ready)
        }
    }

    /// One message from the child.
    private func take(_ message: IsolationChannel.Message, ready: @Sendable () -> Void) {
        if message["READY"] != nil { ready() }
        if let kind = message["TRIGGER"] {
            state.withLock { $0.trigger = (kind, message["REASON"] ?? "") }
        }
        if message["TEARDOWN"] != nil {
            var teardown = RemoteTeardown()
            for phase in UnitTeardownReport.Phase.allCases {
                if let text = message["PHASE-\(phase.rawValue)"], let nanoseconds = Int64(text) {
                    teardown.phaseTimes[phase] = .nanoseconds(nanoseconds)
                }
            }
            teardown.expiredIn = message["EXPIRED"].flatMap(UnitTeardownReport.Phase.init(rawValue:))
            teardown.abandonedCount = message["ABANDONED"].flatMap(Int.init) ?? 0
            teardown.abandonedDescription = message["WHAT"] ?? "nothing"
            state.withLock { $0.teardown = teardown }
        }
    }

    /// Reads what stderr holds now and emits its whole lines; false at its end.
    private func readErrors(_ fd: Int32, into lines: inout LineSplitter) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
            guard count > 0 else { return false }
            for line in lines.take(buffer[0..<count]) { emit(line) }
            if count < buffer.count { return true }
        }
    }

    /// Writes one line of the child's stderr to the host's log, with the plugin's name: a log
    /// record as the record it was, anything else (a runtime's crash message) as a warning.
    private func emit(_ line: String) {
        guard !line.isEmpty else { return }
        if let record = ChildLogRecord(parsing: line[...]) {
            var metadata = Logger.Metadata()
            for (key, value) in record.metadata { metadata[key] = "\(value)" }
            metadata["plugin"] = "\(record.plugin ?? name)"
            metadata["logger"] = "\(record.label)"
            logger.log(level: record.level, "\(record.message)", metadata: metadata)
            remember(record.message)
        } else {
            logger.warning("\(line)", metadata: ["plugin": "\(name)", "stream": "stderr"])
            remember(line)
        }
    }

    /// Keeps `line` among the last lines, unless it is part of a runtime's stack trace (the
    /// message before the trace says more), cut to 300 characters.
    private func remember(_ line: String) {
        if line.hasPrefix("Current stack trace:") || Self.isStackFrame(line) { return }
        let line = line.count > 300 ? String(line.prefix(300)) + "…" : line
        state.withLock { state in
            state.lastLines.append(line)
            if state.lastLines.count > Self.keptLines { state.lastLines.removeFirst() }
        }
    }

    /// `3    libswiftCore.so    0x00007fb9054f9280 _assertionFailure…`: a frame of the Swift
    /// runtime's stack trace.
    static func isStackFrame(_ line: String) -> Bool {
        let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
        return fields.count >= 3 && Int(fields[0]) != nil && fields[2].hasPrefix("0x")
    }

    /// Copies the child's standard output to the host's, one whole line per write, until its
    /// end (a stalled reader of the host's output stalls this copy and, through the pipe, the
    /// child's printing, as it would in process).
    private func forwardOutput(_ fd: Int32, plugin: String) {
        var lines = LineSplitter()
        var writable = true
        var buffer = [UInt8](repeating: 0, count: 65536)
        func write(_ line: String) {
            remember(line)
            guard writable else { return }
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    writable = false  // closed or broken: keep reading, so the child never blocks on it
                    return
                }
                offset += written
            }
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            for line in lines.take(buffer[0..<count]) { write(line) }
        }
        for line in lines.rest() { write(line) }
        close(fd)
        state.withLock { $0.outputDone = true }
    }

    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32

    /// glibc's `pidfd_open` (2.36 and later), which Swift's Glibc module does not declare; found
    /// with `dlsym`, and skipped where missing.
    private static let pidfdOpen: PidfdOpen? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open")
        .map { unsafeBitCast($0, to: PidfdOpen.self) }

    /// The resident memory of `pid`, from `/proc/<pid>/statm`.
    static func residentBytes(of pid: pid_t) -> Int? {
        let fd = open("/proc/\(pid)/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// How many descriptors `pid` has open, from `/proc/<pid>/fd`.
    static func openFiles(of pid: pid_t) -> Int? {
        guard let directory = opendir("/proc/\(pid)/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return count
    }
}

/// Splits bytes into lines as they come; a line longer than ``limit`` is cut there.
struct LineSplitter {
    /// The longest line kept whole.
    static let limit = 64 << 10
    private var pending: [UInt8] = []

    /// The whole lines that `bytes` completes, without their newlines.
    mutating func take(_ bytes: ArraySlice<UInt8>) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
                if pending.count >= Self.limit {
                    lines.append(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                }
            }
        }
        return lines
    }

    /// What is left after the end: a last line without a newline, if any.
    mutating func rest() -> [String] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [String(decoding: pending, as: UTF8.self)]
    }
}
