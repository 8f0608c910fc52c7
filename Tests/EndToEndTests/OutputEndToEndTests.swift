import Foundation
import Synchronization
import XCTest

/// Output can never stop the host (README, "Failure modes"): a stdout or stderr reader that
/// stalls, stalls then resumes, or goes away. Each test drives the real `aiorun-host` with pipes
/// it controls (shrunk to one page, so that they fill within a second), and every wait is
/// bounded: on timeout the child is killed and the test fails.
final class OutputEndToEndTests: XCTestCase {
    /// The smallest pipe the kernel gives: a few dozen log lines fill it.
    static let smallPipe: Int32 = 4096

    /// `journal` prints `ack N` inside its shield; with stdout unread its `print` blocks holding
    /// the stdout lock. The shield is abandoned at the 1 s time limit, the report is written, and
    /// the exit path must not block on that lock: exit 70.
    func testUnreadStdoutDoesNotHangTheExit() throws {
        let folder = try Scratch.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let stdout = try OutputPipe(size: Self.smallPipe)
        let stderr = try OutputPipe()
        let host = try SpawnedHost(
            [
                "--task-shutdown-timeout", "1", Products.plugin("journal"),
                "--set", "journal.path=\(folder.appendingPathComponent("journal").path)",
            ],
            stdout: stdout,
            stderr: stderr
        )
        stderr.startReading()
        try stderr.waitForLine(containing: "ready:", within: .seconds(30), killing: host)
        try stdout.waitUntilFull(slack: 16, within: .seconds(30), killing: host)  // `ack N` lines

        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(20), transcript: stderr)
        XCTAssertEqual(code, 70, stderr.transcript)
        XCTAssertFalse(stderr.lines(containing: "shutdown report").isEmpty, stderr.transcript)
    }

    /// The same stalled stdout, with the default (60 s) limit: a second signal exits at once
    /// with 143 although a plugin's `print` holds the stdout lock.
    func testUnreadStdoutSecondSignalExits143() throws {
        let folder = try Scratch.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let stdout = try OutputPipe(size: Self.smallPipe)
        let stderr = try OutputPipe()
        let host = try SpawnedHost(
            [
                Products.plugin("journal"), "--set", "journal.path=\(folder.appendingPathComponent("journal").path)",
            ],
            stdout: stdout,
            stderr: stderr
        )
        stderr.startReading()
        try stderr.waitForLine(containing: "ready:", within: .seconds(30), killing: host)
        try stdout.waitUntilFull(slack: 16, within: .seconds(30), killing: host)  // `ack N` lines

        host.send(SIGTERM)
        try stderr.waitForLine(containing: "shutdown started", within: .seconds(10), killing: host)
        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(20), transcript: stderr)
        XCTAssertEqual(code, 143, stderr.transcript)
        XCTAssertFalse(stderr.lines(containing: "second signal SIGTERM").isEmpty, stderr.transcript)
    }

    /// stderr's reader stops reading after `ready` (a stopped `less`); `ticker` fills the pipe
    /// within milliseconds. The control thread must still enforce the time limit on `faulty`'s
    /// task that ignores cancellation: exit 70.
    func testUnreadStderrStillEnforcesTheTimeLimit() throws {
        let (host, stderr) = try hostWithStalledStderr(["--task-shutdown-timeout", "1"])

        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(30), transcript: stderr)
        XCTAssertEqual(code, 70, stderr.transcript)
    }

    /// The same stalled stderr, with the default limit: a second signal exits with 143.
    func testUnreadStderrSecondSignalExits143() throws {
        let (host, stderr) = try hostWithStalledStderr()

        host.send(SIGTERM)
        usleep(500_000)
        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(30), transcript: stderr)
        XCTAssertEqual(code, 143, stderr.transcript)
    }

    /// A plugin that ignores cancellation and a ticker logging every millisecond, with `options`,
    /// and stderr on a small pipe that is read until `ready:` and then left unread until full.
    private func hostWithStalledStderr(_ options: [String] = []) throws -> (SpawnedHost, OutputPipe) {
        let stderr = try OutputPipe(size: Self.smallPipe)
        let host = try SpawnedHost(
            options + [
                Products.plugin("faulty"), "--set", "faulty.mode=ignore-cancel",
                Products.plugin("ticker"), "--set", "ticker.interval-ms=1",
            ],
            stdout: nil,
            stderr: stderr
        )
        stderr.startReading()
        try stderr.waitForLine(containing: "ready:", within: .seconds(30), killing: host)
        stderr.pause()
        try stderr.waitUntilFull(within: .seconds(30), killing: host)
        return (host, stderr)
    }

    /// `aiorun-host journal ticker 2>&1 | head -2`: the reader takes two lines and goes away.
    /// The next writes fail with EPIPE instead of killing the host (141); SIGTERM then gives a
    /// full teardown, exit 0, and the journal's shielded writes are complete and consecutive.
    func testReaderThatGoesAwayCutsNothing() throws {
        let folder = try Scratch.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("journal")
        let merged = try OutputPipe()
        let host = try SpawnedHost(
            [
                Products.plugin("journal"), "--set", "journal.path=\(journal.path)",
                Products.plugin("ticker"), "--set", "ticker.interval-ms=10",
            ],
            stdout: merged,
            stderr: merged
        )
        merged.startReading(closeAfter: 2)
        try merged.waitUntilClosed(within: .seconds(30), killing: host)
        // The journal is writing (and its acks and the ticks hit the closed pipe) for a while.
        let deadline = ContinuousClock.now + .seconds(30)
        while ((try? Data(contentsOf: journal).count) ?? 0) < 100 && host.isRunning && ContinuousClock.now < deadline {
            usleep(10_000)
        }
        usleep(300_000)
        XCTAssertTrue(host.isRunning, "the host died when its reader went away")

        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(20), transcript: merged)
        XCTAssertEqual(code, 0)
        let records = try String(contentsOf: journal, encoding: .utf8).split(
            separator: "\n",
            omittingEmptySubsequences: false
        )
        XCTAssertEqual(records.last, "", "the last record is cut")
        XCTAssertGreaterThan(records.count, 2, "the journal wrote nothing")
        for (index, record) in records.dropLast().enumerated() {
            XCTAssertEqual(record, "\(index + 1):\(index + 1):\(index + 1)")
        }
    }

    /// stderr's reader stalls for four seconds while eight tickers log every millisecond, then
    /// reads again. Lines beyond the queue's bound were dropped; the reader then sees where and
    /// how many (`N log lines dropped`), every gap in a ticker's numbers sits across such a
    /// notice, the notices add up to exactly the missing ticks, and the order is kept.
    func testStalledThenResumedReaderSeesHowManyLinesWereDropped() throws {
        let stderr = try OutputPipe(size: Self.smallPipe)
        let tickers = ["ticker", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]
        var arguments = ["--task-shutdown-timeout", "10"]
        for name in tickers {
            arguments += [name == "ticker" ? Products.plugin("ticker") : "\(name)=\(Products.plugin("ticker"))"]
            arguments += ["--set", "\(name).interval-ms=1"]
        }
        let host = try SpawnedHost(arguments, stdout: nil, stderr: stderr)
        stderr.startReading()
        try stderr.waitForLine(containing: "ready:", within: .seconds(30), killing: host)
        stderr.pause()
        try stderr.waitUntilFull(within: .seconds(30), killing: host)
        sleep(4)  // the queue's 8192 lines fill in about a second
        stderr.resume()
        try stderr.waitForLine(
            containing: "dropped (stderr was not read fast enough)",
            within: .seconds(20),
            killing: host
        )
        usleep(300_000)
        host.send(SIGTERM)
        let code = try host.waitForExit(within: .seconds(30), transcript: stderr)
        XCTAssertEqual(code, 0, stderr.transcript.suffix(4000).description)

        let lines = stderr.lines
        var noticed = 0
        var noticeIndices: [Int] = []
        var ticks: [String: [(number: Int, index: Int)]] = [:]
        let tick = #/ \[([a-z0-9]+)\] tick (\d+) /#
        let notice = #/ warning \[host\] (\d+) log lines? dropped /#
        for (index, line) in lines.enumerated() {
            if let match = line.firstMatch(of: notice) {
                noticed += Int(match.1)!
                noticeIndices.append(index)
            } else if let match = line.firstMatch(of: tick) {
                ticks[String(match.1), default: []].append((Int(match.2)!, index))
            }
        }
        XCTAssertGreaterThan(noticed, 0)
        var missing = 0
        for name in tickers {
            let seen = ticks[name] ?? []
            XCTAssertGreaterThan(seen.count, 1, "no ticks from \(name)")
            for (previous, next) in zip(seen, seen.dropFirst()) {
                XCTAssertLessThan(previous.number, next.number, "\(name): ticks out of order")
                guard next.number > previous.number + 1 else { continue }
                missing += next.number - previous.number - 1
                XCTAssertTrue(
                    noticeIndices.contains { $0 > previous.index && $0 < next.index },
                    "\(name): ticks \(previous.number + 1)..<\(next.number) missing with no notice between them"
                )
            }
        }
        XCTAssertEqual(noticed, missing, "the notices do not add up to the missing ticks")
    }

    /// A stderr that another process made non-blocking (shared terminals and pipes can be): a
    /// full pipe gives EAGAIN, and lines must not vanish uncounted. The reader starts late; every
    /// tick is then either read or counted in a notice.
    func testNonBlockingStderrLosesNoLineSilently() throws {
        let stderr = try OutputPipe(size: Self.smallPipe)
        _ = fcntl(stderr.writeEnd, F_SETFL, fcntl(stderr.writeEnd, F_GETFL) | O_NONBLOCK)
        let host = try SpawnedHost(
            [Products.plugin("ticker"), "--set", "ticker.interval-ms=1"],
            stdout: nil,
            stderr: stderr
        )
        usleep(1_000_000)
        host.send(SIGTERM)
        stderr.startReading()
        let code = try host.waitForExit(within: .seconds(30), transcript: stderr)
        XCTAssertEqual(code, 0)
        try stderr.waitUntilClosed(within: .seconds(10), killing: host)
        let ticks = stderr.lines.compactMap { $0.firstMatch(of: #/\] tick (\d+) /#).map { Int($0.1)! } }
        let noticed = stderr.lines.compactMap { $0.firstMatch(of: #/ (\d+) log lines? dropped /#).map { Int($0.1)! } }
            .reduce(0, +)
        XCTAssertGreaterThan(ticks.count, 10, stderr.transcript.suffix(2000).description)
        let missing = zip(ticks, ticks.dropFirst()).reduce(0) { $0 + $1.1 - $1.0 - 1 }
        XCTAssertEqual(missing, noticed, "ticks missing without a notice")
    }

    /// The in-process `run {}` (the seed example) with a stderr pipe that is full before it
    /// starts and never read: its default logger must not hold up the control thread, so SIGINT
    /// still starts the teardown, the shield finishes (`done!`) and the exit code is 0.
    func testInProcessRunWithUnreadStderrStillStops() throws {
        let stdout = try OutputPipe()
        let stderr = try OutputPipe(size: Self.smallPipe)
        stderr.fill()
        // Its shield sleeps 4 s; SIGINT comes well before that.
        let program = try SpawnedHost(["4"], stdout: stdout, stderr: stderr, executable: Products.seedExample)
        stdout.startReading()
        usleep(1_000_000)
        program.send(SIGINT)
        try stdout.waitForLine(containing: "done!", within: .seconds(20), killing: program)
        let code = try program.waitForExit(within: .seconds(20), transcript: stdout)
        XCTAssertEqual(code, 0)
        XCTAssertEqual(stdout.lines, ["oh noes!", "done!"])
    }
}

// MARK: - A child with pipes the test controls

/// `aiorun-host` (or another program) started with `posix_spawn`, its stdout and stderr on the given pipes (or
/// /dev/null), stdin on /dev/null, default signal dispositions and an empty signal mask.
final class SpawnedHost: Sendable {
    let pid: pid_t

    init(_ arguments: [String], stdout: OutputPipe?, stderr: OutputPipe?, executable: URL = Products.host) throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, null, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout?.writeEnd ?? null, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr?.writeEnd ?? null, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let path = executable.path
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in (argv + envp) { free(pointer) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw HostTestError.buildFailed("posix_spawn \(path): \(String(cString: strerror(rc)))") }
        self.pid = pid
        // The child has its copies; the test keeps only the read ends.
        stdout?.closeWriteEnd()
        stderr?.closeWriteEnd()
    }

    deinit {
        // A test that failed early must not leave the host running.
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    private let exitStatus = Mutex<Int32?>(nil)

    /// Whether the process has not exited yet (reaps it if it has).
    var isRunning: Bool {
        exitStatus.withLock { status in
            if status != nil { return false }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            return status == nil
        }
    }

    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the exit; returns the exit code, or 128+N when signal N ended it. On timeout,
    /// kills the process, fails the test (with `transcript`'s lines) and throws.
    func waitForExit(
        within timeout: Duration,
        transcript: OutputPipe? = nil,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> Int32 {
        // Once the process is gone, let a paused reader read to the end (and its thread finish).
        defer { transcript?.resume() }
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                XCTFail(
                    "aiorun-host did not exit within \(timeout); stderr:\n\(transcript?.transcript ?? "(not read)")",
                    file: file,
                    line: line
                )
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
        let raw = exitStatus.withLock { $0 } ?? 0
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

/// A pipe whose read end the test reads on a thread of its own, and can stop reading (the
/// reader stalls), resume, or close after a number of lines (the reader goes away).
final class OutputPipe: Sendable {
    let readEnd: Int32
    private let writeEndStorage: Atomic<Int32>
    private let state = Mutex<State>(State())

    private struct State {
        var lines: [String] = []
        var paused = false
        var closed = false
    }

    var writeEnd: Int32 { writeEndStorage.load(ordering: .relaxed) }

    /// A new pipe; `size` shrinks its buffer (`F_SETPIPE_SZ`).
    init(size: Int32? = nil) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HostTestError.buildFailed("pipe: \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        readEnd = fds[0]
        writeEndStorage = Atomic(fds[1])
        if let size {
            let F_SETPIPE_SZ: Int32 = 1031
            guard fcntl(fds[1], F_SETPIPE_SZ, size) >= 0 else {
                throw HostTestError.buildFailed("F_SETPIPE_SZ: \(errno)")
            }
        }
    }

    deinit {
        if !state.withLock({ $0.closed }) { close(readEnd) }
        closeWriteEnd()
    }

    func closeWriteEnd() {
        let fd = writeEndStorage.exchange(-1, ordering: .relaxed)
        if fd >= 0 { close(fd) }
    }

    /// Starts the reader thread; with `closeAfter`, it closes the read end after that many lines.
    func startReading(closeAfter limit: Int? = nil) {
        Thread { [self] in
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                if state.withLock({ $0.paused }) {
                    usleep(10_000)
                    continue
                }
                var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 50) == 0 { continue }
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending += buffer[0..<count]
                while let newline = pending.firstIndex(of: 0x0a) {
                    let text = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    let total = state.withLock {
                        $0.lines.append(text)
                        return $0.lines.count
                    }
                    if let limit, total >= limit {
                        close(readEnd)
                        state.withLock { $0.closed = true }
                        return
                    }
                }
            }
            if !pending.isEmpty {
                let text = String(decoding: pending, as: UTF8.self)
                state.withLock { $0.lines.append(text) }
            }
            state.withLock { $0.closed = true }
        }.start()
    }

    /// Fills the pipe's buffer before any child writes to it (nobody reads yet).
    func fill() {
        let capacity = Int(fcntl(writeEnd, 1032))  // 1032: F_GETPIPE_SZ
        let filler = [UInt8](repeating: 0x2e, count: capacity - 1) + [0x0a]
        _ = filler.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
    }

    /// Stops reading (the pipe fills up).
    func pause() { state.withLock { $0.paused = true } }

    /// Reads again.
    func resume() { state.withLock { $0.paused = false } }

    var lines: [String] { state.withLock { $0.lines } }
    var transcript: String { lines.joined(separator: "\n") }

    func lines(containing text: String) -> [String] { lines.filter { $0.contains(text) } }

    /// Waits (bounded) for a line containing `text`; on timeout kills `host` and fails.
    func waitForLine(
        containing text: String,
        within timeout: Duration,
        killing host: SpawnedHost,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        try waitFor("a line containing \"\(text)\"", within: timeout, killing: host, file: file, line: line) {
            lines.contains { $0.contains(text) }
        }
    }

    /// Waits (bounded) until the pipe is full: no byte more for 300 ms although the host writes
    /// every few milliseconds, and at most `slack` bytes free (fewer than the next line needs;
    /// a write of up to a page waits for room for all of it, so a stalled writer of larger
    /// chunks may leave more free: pass the page size then). Writers now block.
    func waitUntilFull(
        slack: Int32 = 4096,
        within timeout: Duration,
        killing host: SpawnedHost,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let capacity = fcntl(readEnd, 1032)  // 1032: F_GETPIPE_SZ
        var last: (unread: Int32, since: ContinuousClock.Instant) = (-1, .now)
        try waitFor("the pipe to fill", within: timeout, killing: host, file: file, line: line) {
            var unread: Int32 = 0
            _ = ioctl(readEnd, UInt(FIONREAD), &unread)
            if unread != last.unread { last = (unread, .now) }
            return unread > 0 && unread >= capacity - slack && ContinuousClock.now - last.since >= .milliseconds(300)
        }
    }

    /// Waits (bounded) until the reader has closed the read end.
    func waitUntilClosed(
        within timeout: Duration,
        killing host: SpawnedHost,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        try waitFor("the reader to close", within: timeout, killing: host, file: file, line: line) {
            state.withLock { $0.closed }
        }
    }

    private func waitFor(
        _ what: String,
        within timeout: Duration,
        killing host: SpawnedHost,
        file: StaticString,
        line: UInt,
        _ done: () -> Bool
    ) throws {
        let deadline = ContinuousClock.now + timeout
        while !done() {
            if ContinuousClock.now > deadline || !host.isRunning {
                if done() { return }
                kill(host.pid, SIGKILL)
                XCTFail(
                    "no \(what) within \(timeout); read so far:\n\(transcript.suffix(4000))",
                    file: file,
                    line: line
                )
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
    }
}
