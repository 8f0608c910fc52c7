import Foundation
import Synchronization
import XCTest

// Shared by IsolationEndToEndTests: the isolated plugins' child processes found in /proc, a
// steady HTTP client, the shutdown report's rows, and the host's stderr kept apart from its
// stdout. Every wait is bounded.

// MARK: - Processes in /proc

/// One process, told apart from a later process with the same id by its start time.
struct ProcessIdentity: Hashable, Sendable, CustomStringConvertible {
    let pid: pid_t
    /// Field 22 of /proc/PID/stat: clock ticks after boot.
    let startTime: UInt64

    var description: String { "\(pid)" }
}

/// The fields of /proc/PID/stat that the tests read.
struct ProcessStat: Sendable {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    let state: Character
    let parent: pid_t
    let startTime: UInt64

    /// Reads /proc/`pid`/stat; nil once the process is gone.
    init?(pid: pid_t) {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let parent = pid_t(fields[1]),
            let startTime = UInt64(fields[19])
        else { return nil }
        self.state = state
        self.parent = parent
        self.startTime = startTime
    }
}

/// The isolated plugins' child processes, read from /proc.
enum IsolatedChildren {
    /// Every live process started as host `hostPID`'s worker for a plugin: its command line is
    /// `<exe> --aiorun-internal-child worker <hostPID> name=NAME …`. Keyed by the plugin's name.
    static func workers(of hostPID: pid_t) -> [String: ProcessIdentity] {
        var found: [String: ProcessIdentity] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { continue }
            let arguments = data.split(separator: 0, omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard arguments.count > 4, arguments[1] == "--aiorun-internal-child", arguments[2] == "worker",
                arguments[3] == "\(hostPID)", arguments[4].hasPrefix("name="),
                let stat = ProcessStat(pid: pid), isRunning(stat)
            else { continue }
            found[String(arguments[4].dropFirst("name=".count))] = ProcessIdentity(
                pid: pid,
                startTime: stat.startTime
            )
        }
        return found
    }

    /// Whether `process` still runs: its /proc entry exists, is the same process (same start
    /// time), and is neither a zombie nor dead (a zombie has ended; init reaps it when it will).
    static func isRunning(_ process: ProcessIdentity) -> Bool {
        guard let stat = ProcessStat(pid: process.pid), stat.startTime == process.startTime else { return false }
        return isRunning(stat)
    }

    private static func isRunning(_ stat: ProcessStat) -> Bool {
        stat.state != "Z" && stat.state != "X" && stat.state != "x"
    }

    /// Waits until `count` workers of `host` run; returns them. Fails the test on timeout.
    static func waitForWorkers(
        _ count: Int,
        of host: ChildProcess,
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> [String: ProcessIdentity] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let workers = workers(of: host.process.processIdentifier)
            if workers.count == count { return workers }
            if ContinuousClock.now > deadline {
                XCTFail(
                    "expected \(count) worker processes, found \(workers.keys.sorted())\n\(host.transcript)",
                    file: file,
                    line: line
                )
                throw HostTestError.timeout
            }
            usleep(10_000)
        }
    }

    /// Waits until none of `processes` runs. Fails the test (naming the ones left) on timeout;
    /// returns how long it took.
    @discardableResult
    static func waitUntilGone(
        _ processes: [ProcessIdentity],
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> Duration {
        let started = ContinuousClock.now
        let deadline = started + timeout
        while true {
            let left = processes.filter(isRunning)
            if left.isEmpty { return ContinuousClock.now - started }
            if ContinuousClock.now > deadline {
                XCTFail("child processes still running \(timeout) later: \(left)", file: file, line: line)
                for process in left { kill(process.pid, SIGKILL) }
                return ContinuousClock.now - started
            }
            usleep(10_000)
        }
    }
}

// MARK: - A steady client

/// One client thread making `GET path` requests one after another, 5 ms apart, until stopped,
/// until `limit` requests or until `until` passes, whichever comes first.
final class SteadyClient: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        let response: HTTPResponse
        let started: ContinuousClock.Instant
        let finished: ContinuousClock.Instant
        var description: String { "\(response)" }
    }

    private let state = Mutex<(records: [Record], stop: Bool, done: Bool)>(([], false, false))

    init(port: Int, path: String = "/", limit: Int = 20_000, until: ContinuousClock.Instant = .now + .seconds(180)) {
        Thread { [self] in
            for _ in 0..<limit {
                if state.withLock({ $0.stop }) || ContinuousClock.now > until { break }
                let started = ContinuousClock.now
                let response = HTTPClient.get(port: port, path: path, timeout: .seconds(10))
                let record = Record(response: response, started: started, finished: .now)
                state.withLock { $0.records.append(record) }
                usleep(5_000)
            }
            state.withLock { $0.done = true }
        }.start()
    }

    var records: [Record] { state.withLock { $0.records } }

    /// Complete 200s so far.
    var completedOK: Int { records.filter { $0.response.isComplete200 }.count }

    /// Waits until at least `count` requests got a complete 200. Fails the test on timeout.
    func waitForCompleted(
        _ count: Int,
        within timeout: Duration,
        host: ChildProcess,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let deadline = ContinuousClock.now + timeout
        while completedOK < count {
            if ContinuousClock.now > deadline {
                XCTFail(
                    "only \(completedOK) of \(count) requests answered: \(records.suffix(3))\n\(host.transcript)",
                    file: file,
                    line: line
                )
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
    }

    /// Stops the client after its request in flight; false if it did not end within `timeout`.
    func stop(within timeout: Duration) -> Bool {
        state.withLock { $0.stop = true }
        let deadline = ContinuousClock.now + timeout
        while !state.withLock({ $0.done }) {
            if ContinuousClock.now > deadline { return false }
            usleep(5_000)
        }
        return true
    }
}

// MARK: - The shutdown report

extension ChildProcess {
    /// The last shutdown report's rows, in teardown order, each keyed by the header's column
    /// names (`plugin`, `outcome`, `restarts`, `total`, `callbacks`, `cancel`, `wait`, `drain`,
    /// `abandoned`; the last one may hold spaces). Empty when there is no report.
    func reportRows() -> [[String: String]] {
        let lines = output.map(\.text)
        guard let title = lines.lastIndex(where: { $0.contains("shutdown report:") }),
            title + 1 < lines.count
        else { return [] }
        let header = lines[title + 1].split(separator: " ").map(String.init)
        guard header.first == "plugin", header.count > 1 else { return [] }
        var rows: [[String: String]] = []
        for line in lines[(title + 2)...] {
            guard line.hasPrefix("  ") else { break }
            let cells = line.split(separator: " ", maxSplits: header.count - 1).map(String.init)
            guard cells.count == header.count else { break }
            rows.append(Dictionary(uniqueKeysWithValues: zip(header, cells)))
        }
        return rows
    }

    /// Starts `aiorun-host` with `arguments` and its stderr written to `file`: this process's
    /// output is then the host's stdout alone. (A shell redirects, then execs the host: the
    /// process is the host itself.)
    static func host(_ arguments: [String], stderrTo file: URL) throws -> ChildProcess {
        try ChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "exec 2>\"$0\"; exec \"$@\"", file.path, Products.host.path] + arguments
        )
    }
}

/// `0.812s` as seconds.
func reportedSeconds(_ cell: String?) -> Double? {
    guard let cell, cell.hasSuffix("s") else { return nil }
    return Double(cell.dropLast())
}
