import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The watcher of an isolated plugin's child (README, "Isolation"): one loop on the thread that
/// started the child, until the child is reaped and what it wrote is out.
extension IsolatedProcess {
    /// How often the memory and open files are sampled when a limit is set.
    static let sampleInterval: Duration = .milliseconds(50)
    /// How long a closed channel may precede the process's exit before it counts as lost.
    static let channelGrace: Duration = .milliseconds(250)
    /// How long the watcher waits, after the exit, for the last of the child's output (held
    /// open longer only by a process that left the child's group).
    static let outputGrace: Duration = .seconds(1)
    /// The most stderr bytes taken in one pass of the loop, so that a child flooding it cannot
    /// delay the limits, the channel or its own end.
    static let errorBytesPerPass = 256 << 10

    /// What the loop keeps between its passes.
    private struct Watch {
        var errorLines = LineSplitter(limit: LineSplitter.recordLimit)
        var channelOpen = true
        var errorOpen = true
        var channelClosedAt: ContinuousClock.Instant?
        var killed: Kill?
        var openFilesWarned: Int?
        var nextSample = ContinuousClock.now
    }

    /// The loop: samples the limits, takes the channel's messages and stderr's lines, kills the
    /// child past a limit, a lost channel or a stop's deadline; once the child has ended, kills
    /// what is left of its process group (no orphans, and no inherited pipe held open), reaps
    /// it, takes the rest of its output within ``outputGrace``, and hands out its ``Ending``.
    func watch(pipes: Pipes, limits: IsolationSettings, ready: @escaping @Sendable () -> Void) {
        let started = ContinuousClock.now
        let output = OutputForwarder(fd: pipes.output, plugin: name) { [weak self] line in self?.remember(line) }
        var watch = Watch()
        let sampling = limits.memoryLimit != nil || limits.openFilesLimit != nil
        // Readable once the child has ended, before it is reaped (Linux 5.3): its end wakes the
        // loop at once, and its group can still be killed by its id.
        let exitFD = Self.pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if exitFD >= 0 { close(exitFD) } }
        var raw: Int32 = 0
        var reaped = false

        while true {
            if exitFD >= 0 {
                var ended = pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)
                if poll(&ended, 1, 0) > 0 { break }
            } else if waitpid(pid, &raw, WNOHANG) == pid {
                reaped = true
                break
            }
            let now = ContinuousClock.now
            if sampling && now >= watch.nextSample {
                watch.nextSample = now + Self.sampleInterval
                sample(limits, &watch)
            }
            if watch.killed == nil, let closed = watch.channelClosedAt, now - closed >= Self.channelGrace {
                killGroup(.channelLost, &watch)
            }
            let (deadline, limit) = state.withLock { ($0.stopDeadline, $0.stopLimit) }
            if watch.killed == nil, let deadline, now >= deadline {
                killGroup(.timeLimit(limit), &watch)
            }

            var wait: Duration = sampling ? Self.sampleInterval : .milliseconds(500)
            if let deadline, watch.killed == nil { wait = min(wait, max(.zero, deadline - now)) }
            if let closed = watch.channelClosedAt, watch.killed == nil {
                wait = min(wait, max(.zero, closed + Self.channelGrace - now))
            }
            if exitFD < 0 && (!watch.channelOpen || !watch.errorOpen) { wait = min(wait, .milliseconds(5)) }
            var fds = [
                pollfd(fd: watch.channelOpen ? channel : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: watch.errorOpen ? pipes.error : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 3, Self.milliseconds(wait))
            if watch.channelOpen && fds[0].revents != 0 && !takeMessages(ready: ready) {
                watch.channelOpen = false
                watch.channelClosedAt = .now
            }
            if watch.errorOpen && fds[1].revents != 0 {
                watch.errorOpen = readErrors(pipes.error, into: &watch.errorLines)
            }
        }
        let lifetime = ContinuousClock.now - started
        // Whatever the child left in its group goes with it. With the pidfd the child is not yet
        // reaped, so its id still names its group; without, the id stays taken while the group
        // has members.
        kill(-pid, SIGKILL)
        if !reaped { while waitpid(pid, &raw, 0) < 0 && errno == EINTR {} }

        // What it wrote and sent before its end, within the grace.
        let outputDeadline = ContinuousClock.now + Self.outputGrace
        while watch.errorOpen {
            let left = outputDeadline - .now
            guard left > .zero else { break }
            var fd = pollfd(fd: pipes.error, events: Int16(POLLIN), revents: 0)
            if poll(&fd, 1, Self.milliseconds(left)) > 0 {
                watch.errorOpen = readErrors(pipes.error, into: &watch.errorLines)
            }
        }
        for line in watch.errorLines.rest() { emit(line) }
        if watch.channelOpen { _ = takeMessages(ready: ready) }
        output.finish(by: outputDeadline)
        ChildProcesses.unregister(pid)
        close(pipes.error)
        finish(SelfChild.status(raw), watch: watch, lifetime: lifetime)
        closeChannel()
    }

    /// Hands out the ending to every waiter.
    private func finish(_ status: SelfChild.Status, watch: Watch, lifetime: Duration) {
        let (ending, waiters) = state.withLock { state -> (Ending, [CheckedContinuation<Ending, Never>]) in
            let ending = Ending(
                status: status,
                killed: watch.killed,
                trigger: state.trigger,
                teardown: state.teardown,
                lastLines: state.lastLines,
                lifetime: lifetime,
                reachedOpenFilesLimit: watch.openFilesWarned
            )
            state.ending = ending
            defer { state.waiters = [] }
            return (ending, state.waiters)
        }
        for waiter in waiters { waiter.resume(returning: ending) }
    }

    /// Samples memory and open files against the limits.
    private func sample(_ limits: IsolationSettings, _ watch: inout Watch) {
        if watch.killed == nil, let limit = limits.memoryLimit, let resident = Self.residentBytes(of: pid),
            resident > limit
        {
            killGroup(.memory(limit: limit, resident: resident), &watch)
        }
        if let limit = limits.openFilesLimit, watch.openFilesWarned == nil, let open = Self.openFiles(of: pid),
            open >= limit
        {
            watch.openFilesWarned = limit
            logger.warning(
                "plugin \(name) has reached its open-files limit of \(limit) (\(open) open)",
                metadata: ["plugin": "\(name)"]
            )
        }
    }

    /// Kills the child's process group, for `reason`.
    private func killGroup(_ reason: Kill, _ watch: inout Watch) {
        watch.killed = reason
        kill(-pid, SIGKILL)
    }

    /// `wait` in whole milliseconds for `poll`, rounded up, at most a second.
    private static func milliseconds(_ wait: Duration) -> Int32 {
        let (seconds, attoseconds) = wait.components
        return Int32(max(0, min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 1000)))
    }

    /// Takes every queued message; false once the channel is closed.
    private func takeMessages(ready: @Sendable () -> Void) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(channel, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
            guard count > 0 else { return false }
            take(IsolationChannel.decode(buffer[0..<count]), ready: ready)
        }
    }

    /// One message from the child.
    private func take(_ message: IsolationChannel.Message, ready: @Sendable () -> Void) {
        if message["CREATED"] != nil { state.withLock { $0.created = true } }
        if message["READY"] != nil { ready() }
        if let kind = message["TRIGGER"] {
            state.withLock { $0.trigger = (ChildShutdown(rawValue: kind) ?? .other, message["REASON"] ?? "") }
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

    /// Reads what stderr holds now, at most ``errorBytesPerPass``, and emits its whole lines;
    /// false at its end.
    private func readErrors(_ fd: Int32, into lines: inout LineSplitter) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var taken = 0
        while taken < Self.errorBytesPerPass {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
            guard count > 0 else { return false }
            for line in lines.take(buffer[0..<count]) { emit(String(decoding: line, as: UTF8.self)) }
            if count < buffer.count { return true }
            taken += count
        }
        return true
    }

    /// Writes one line of the child's stderr to the host's log, with the plugin's name (always
    /// this plugin's: a child cannot log as another): a log record as the record it was,
    /// anything else (a runtime's crash message) as a warning.
    private func emit(_ line: String) {
        guard !line.isEmpty else { return }
        if let record = ChildLogRecord(parsing: line[...]) {
            var metadata = Logger.Metadata()
            for (key, value) in record.metadata { metadata[key] = "\(value)" }
            metadata["plugin"] = "\(name)"
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
    func remember(_ line: String) {
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
