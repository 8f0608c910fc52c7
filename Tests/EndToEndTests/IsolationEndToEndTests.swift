import Foundation
import XCTest

/// Isolation (README, "Isolation"; `--isolate`, `isolate = true`): each isolated plugin runs in a
/// child process of its own under the parent's one lifecycle manager. With the real host, the
/// Crasher fixture, the Hummingbird example and real signals, these tests prove that:
/// - a plugin that traps, segfaults or overflows its stack ends only its own process: the host
///   names the plugin and the signal, a Hummingbird server in the same host (isolated or in
///   process) answers every request of a steady client, and the host tears the rest down in
///   reverse order with exit 72 — or, with `--restart on-failure`, restarts the plugin and stays up;
/// - restarts of a crashing isolated plugin count against its budget (restart 1, then exit 71
///   once it is spent);
/// - teardown keeps reverse load order across isolated and in-process plugins, an isolated
///   plugin's shield finishing before the next plugin stops;
/// - a second signal during an isolated teardown exits at once with 143 and leaves no child;
/// - the children die with a SIGKILLed parent;
/// - a memory limit and a lost channel are named; JSON logs stay JSON with the plugin's name, and
///   the children's stdout lines stay whole and in order;
/// - `--check --isolate` says `isolated=yes`.
///
/// Every wait is bounded, every host run ends (the test kills it on failure), and no test leaves
/// a child process behind.
final class IsolationEndToEndTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder(for: self)
    }

    private var crasher: String { Products.plugin("crasher") }

    /// `--set NAME.KEY=VALUE` for each of `settings`.
    private func settings(_ name: String, _ settings: [String]) -> [String] {
        settings.flatMap { ["--set", "\(name).\($0)"] }
    }

    /// Writes `text` to a config file in the scratch folder and returns its path.
    private func configFile(_ text: String) throws -> String {
        let url = scratch.appendingPathComponent("isolation-\(UUID().uuidString).toml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// After the host ended: no worker process of it runs.
    private func assertNoWorkerLeft(_ host: ChildProcess, file: StaticString = #filePath, line: UInt = #line) {
        let left = IsolatedChildren.workers(of: host.process.processIdentifier)
        XCTAssertTrue(left.isEmpty, "worker processes left after the host ended: \(left)", file: file, line: line)
        for process in left.values { kill(process.pid, SIGKILL) }
    }

    // MARK: - 1. A crash beside a server

    /// The crash modes and the signal each ends its process with: a Swift trap is `ud2` (SIGILL);
    /// a store through a bad pointer and a stack overflow are page faults (SIGSEGV).
    private static let crashes = [
        (mode: "fatal", signal: "died of signal 4 (SIGILL)"),
        (mode: "segv", signal: "died of signal 11 (SIGSEGV)"),
        (mode: "stack-overflow", signal: "died of signal 11 (SIGSEGV)"),
    ]

    /// Each crash mode, each in a host of its own with every plugin isolated: `http` (the
    /// Hummingbird example), `guard` (a crasher in `shield` mode, whose 3 s teardown keeps the
    /// host's shutdown off http for that long) and `crasher`, loaded in that order. A steady
    /// client of http, from before the crash until the crash line, sees no failed request, and
    /// http still answers once the crash is logged. The crash line names the plugin and the
    /// signal; the host stops with exit 72, `guard` then `http` torn down in reverse order.
    func testCrashingIsolatedPluginLeavesTheServerServingThenExit72() throws {
        let http = try HTTPPluginLibrary.path()
        for crash in Self.crashes {
            let port = try FreePorts.one()
            try assertCrashBesideServer(
                mode: crash.mode,
                signal: crash.signal,
                port: port,
                arguments: [
                    "--isolate", http, "guard=\(crasher)", crasher, "--set", "http.port=\(port)",
                ] + settings("guard", ["mode=shield", "shield-ms=3000"])
                    + settings("crasher", ["mode=\(crash.mode)", "delay-ms=1500"]),
                isolated: ["http", "guard", "crasher"]
            )
        }
    }

    /// The same in a mixed host from a config file: http and guard in the host's process, only
    /// the crasher isolated (`isolate = true` in its entry). Its segfault ends its process only:
    /// the in-process server answers on, and the host stops with exit 72.
    func testCrashingIsolatedPluginBesideAnInProcessServer() throws {
        let http = try HTTPPluginLibrary.path()
        let port = try FreePorts.one()
        let config = try configFile(
            """
            [[plugin]]
            load = "\(http)"
            [plugin.config]
            port = "\(port)"

            [[plugin]]
            load = "\(crasher)"
            alias = "guard"
            isolate = false
            [plugin.config]
            mode = "shield"
            shield-ms = "3000"

            [[plugin]]
            load = "\(crasher)"
            isolate = true
            [plugin.config]
            mode = "segv"
            delay-ms = "1500"
            """
        )
        try assertCrashBesideServer(
            mode: "segv",
            signal: "died of signal 11 (SIGSEGV)",
            port: port,
            arguments: ["--config", config],
            isolated: ["crasher"]
        )
    }

    /// One host run of the crash-beside-a-server scenario (see the tests above).
    private func assertCrashBesideServer(
        mode: String,
        signal: String,
        port: Int,
        arguments: [String],
        isolated: Set<String>,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let started = ContinuousClock.now
        let host = try ChildProcess.host(arguments)
        try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(60), file: file, line: line)
        for name in ["http", "guard", "crasher"] {
            XCTAssertEqual(
                host.index(of: "plugin \(name) runs isolated in process") != nil,
                isolated.contains(name),
                "\(mode): isolation of \(name)\n\(host.transcript)",
                file: file,
                line: line
            )
        }
        try waitUntilServing(port: port, host: host, file: file, line: line)
        let client = SteadyClient(port: port)
        defer { _ = client.stop(within: .seconds(20)) }

        let crashLine = try host.waitForLine(
            containing: "plugin crasher's process",
            within: .seconds(30),
            file: file,
            line: line
        )
        XCTAssertTrue(client.stop(within: .seconds(20)), "the client did not stop", file: file, line: line)
        // The server still answers after the crash: guard's shield holds the shutdown off it.
        let after = HTTPClient.get(port: port, path: "/")
        XCTAssertTrue(
            after.isComplete200,
            "\(mode): http did not answer after the crash: \(after)\n\(host.transcript)",
            file: file,
            line: line
        )
        try host.expectExit(72, within: .seconds(60), file: file, line: line)

        let records = client.records
        let failed = records.filter { !$0.response.isComplete200 }
        XCTAssertTrue(
            failed.isEmpty,
            "\(mode): \(failed.count) of \(records.count) requests failed: \(failed.prefix(5))\n\(host.transcript)",
            file: file,
            line: line
        )
        let beforeCrash = records.filter { $0.finished < crashLine.at }.count
        XCTAssertGreaterThanOrEqual(
            beforeCrash,
            5,
            "\(mode): the client made too few requests before the crash to prove anything",
            file: file,
            line: line
        )
        // The crash line: the plugin, its process and the signal, with its last lines.
        XCTAssertTrue(crashLine.text.contains(" error [crasher] "), crashLine.text, file: file, line: line)
        XCTAssertTrue(crashLine.text.contains(signal), crashLine.text, file: file, line: line)
        XCTAssertTrue(crashLine.text.contains("last lines: \""), crashLine.text, file: file, line: line)
        if mode == "fatal" {
            XCTAssertTrue(crashLine.text.contains("Fatal error: crasher boom"), crashLine.text, file: file, line: line)
        }
        XCTAssertNotNil(
            host.index(of: "plugin crasher was lost: its process \(signal)"),
            host.transcript,
            file: file,
            line: line
        )
        // Reverse-order teardown of the others after the crash: guard (its shield done), then http.
        let lost = host.index(of: "plugin crasher was lost") ?? .max
        let shieldDone = host.index(of: "crasher shield done") ?? .max
        let stoppedGuard = host.index(of: "stopped plugin guard") ?? .max
        let stoppedHTTP = host.index(of: "stopped plugin http") ?? .max
        XCTAssertLessThan(lost, shieldDone, host.transcript, file: file, line: line)
        XCTAssertLessThan(shieldDone, stoppedGuard, host.transcript, file: file, line: line)
        XCTAssertLessThan(stoppedGuard, stoppedHTTP, host.transcript, file: file, line: line)
        XCTAssertNotEqual(stoppedHTTP, .max, host.transcript, file: file, line: line)
        XCTAssertTrue(
            host.lines(containing: "stopped plugin http").first?.contains("[ok]") ?? false,
            host.transcript,
            file: file,
            line: line
        )
        XCTAssertTrue(
            host.transcript.contains("shutdown report: trigger=plugin crasher was lost: its process \(signal)"),
            host.transcript,
            file: file,
            line: line
        )
        XCTAssertEqual(
            host.reportRows().map { $0["plugin"] ?? "?" },
            ["crasher", "guard", "http"],
            host.transcript,
            file: file,
            line: line
        )
        assertNoWorkerLeft(host, file: file, line: line)
        print(
            "isolation: \(mode) beside http (isolated: \(isolated.sorted())): \(records.count) requests, "
                + "\(beforeCrash) before the crash line, none failed; exit 72; run took \(ContinuousClock.now - started)"
        )
    }

    /// With `--restart crasher=on-failure`, all isolated: the crasher traps once (`crash-once`),
    /// is restarted and survives, while a steady client of http — from before the crash until
    /// after the restart is ready — sees every request answered. http's process is the same one
    /// throughout, the host stays up, and SIGTERM ends it with exit 0 (1 restart for the crasher,
    /// none for http).
    func testServerServesAcrossARestartedIsolatedCrash() throws {
        let http = try HTTPPluginLibrary.path()
        let port = try FreePorts.one()
        let state = scratch.appendingPathComponent("crash-once.state").path
        let host = try ChildProcess.host(
            ["--isolate", "--restart", "crasher=on-failure", http, crasher, "--set", "http.port=\(port)"]
                + settings("crasher", ["mode=crash-once", "state-file=\(state)", "delay-ms=1500"])
        )
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        try waitUntilServing(port: port, host: host)
        let client = SteadyClient(port: port)
        defer { _ = client.stop(within: .seconds(20)) }

        let failure = try host.waitForLine(containing: "plugin crasher failed:", within: .seconds(30))
        XCTAssertTrue(
            failure.text.contains(
                "its process died of signal 4 (SIGILL); restarting in 0.100s (restart 1 of at most 5 within 60.000s)"
            ),
            failure.text
        )
        let restarted = try host.waitForLine(containing: "crasher survived (state file present)", within: .seconds(30))
        XCTAssertTrue(restarted.text.contains("[crasher]"), restarted.text)
        try host.waitForLine(containing: "plugin crasher ready in", andAlso: "(restart 1)", within: .seconds(10))
        let crashedAt = try XCTUnwrap(host.output.first { $0.text.contains("plugin crasher's process") }).at
        let beforeRestartReady = client.records.count
        try client.waitForCompleted(beforeRestartReady + 10, within: .seconds(20), host: host)
        XCTAssertTrue(client.stop(within: .seconds(20)), "the client did not stop")

        XCTAssertTrue(host.process.isRunning, "the host did not stay up:\n\(host.transcript)")
        XCTAssertEqual(host.lines(containing: "plugin http runs isolated in process").count, 1, host.transcript)
        XCTAssertEqual(host.lines(containing: "plugin crasher runs isolated in process").count, 2, host.transcript)
        XCTAssertNil(host.index(of: "stopped plugin http"), host.transcript)
        let records = client.records
        let failed = records.filter { !$0.response.isComplete200 }
        XCTAssertTrue(failed.isEmpty, "\(failed.count) of \(records.count) requests failed: \(failed.prefix(5))")
        XCTAssertGreaterThanOrEqual(records.filter { $0.finished < crashedAt }.count, 5, "too few before the crash")

        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertEqual(host.reportedRestarts(of: "crasher"), 1, host.transcript)
        XCTAssertEqual(host.reportedRestarts(of: "http"), 0, host.transcript)
        XCTAssertLessThan(
            host.index(of: "stopped plugin crasher") ?? .max,
            host.index(of: "stopped plugin http") ?? .min,
            host.transcript
        )
        assertNoWorkerLeft(host)
        print("isolation: crash-once beside http with restart: \(records.count) requests, none failed")
    }

    /// A crash before the plugin is ready (`crash-before-ready`) is a failed start: the host
    /// names the plugin and the signal, never announces readiness, tears hello down and exits 69.
    func testCrashBeforeReadyFailsTheStartWithExit69() throws {
        let host = try ChildProcess.host(
            ["--isolate", Products.plugin("hello"), crasher] + settings("crasher", ["mode=crash-before-ready"])
        )
        try host.expectExit(69, within: .seconds(60))
        let transcript = host.transcript
        XCTAssertNotNil(
            host.index(of: "plugin crasher failed to start: its process died of signal 4 (SIGILL)"),
            transcript
        )
        XCTAssertLessThan(
            host.index(of: "plugin crasher's process") ?? .max,
            host.index(of: "plugin crasher failed to start") ?? .min,
            transcript
        )
        XCTAssertNil(host.index(of: "plugins running"), transcript)
        XCTAssertNil(host.index(of: "plugin crasher ready in"), transcript)
        XCTAssertLessThan(
            host.index(of: "stopped plugin crasher") ?? .max,
            host.index(of: "stopped plugin hello") ?? .min,
            transcript
        )
        assertNoWorkerLeft(host)
    }

    // MARK: - 2. Restarts and their budget

    /// `crash-once` (its state in a file, as each restart is a fresh process): the first process
    /// traps, the restart (a new process) survives; the host is ready once and stays up, and
    /// SIGTERM ends it with exit 0, the report counting 1 restart.
    func testCrashOnceIsRestartedWithinItsBudget() throws {
        let state = scratch.appendingPathComponent("crash-once.state").path
        let host = try ChildProcess.host(
            ["--isolate", "--restart", "on-failure", crasher]
                + settings("crasher", ["mode=crash-once", "state-file=\(state)"])
        )
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        let failed = try host.waitForLine(containing: "plugin crasher failed:", within: .seconds(30))
        XCTAssertTrue(
            failed.text.contains(
                "plugin crasher failed: its process died of signal 4 (SIGILL); restarting in 0.100s (restart 1 of at most 5 within 60.000s)"
            ),
            failed.text
        )
        try host.waitForLine(containing: "crasher survived (state file present)", within: .seconds(30))
        try host.waitForLine(containing: "plugin crasher ready in", andAlso: "(restart 1)", within: .seconds(10))
        let pids = host.lines(containing: "plugin crasher runs isolated in process")
        XCTAssertEqual(pids.count, 2, host.transcript)
        XCTAssertEqual(Set(pids.map { $0.split(separator: " ").last ?? "" }).count, 2, "the same process twice")
        // Crash line, failure, teardown of the lost process, then the new one.
        let crashed = host.index(of: "plugin crasher's process") ?? .max
        XCTAssertLessThan(crashed, host.index(of: "plugin crasher failed:") ?? .min, host.transcript)
        XCTAssertLessThan(host.index(of: "plugin crasher failed:") ?? .max, host.lastIndex(of: "runs isolated") ?? .min)
        XCTAssertEqual(host.lines(containing: "ready: 1 plugins running").count, 1, host.transcript)

        usleep(500_000)
        XCTAssertTrue(host.process.isRunning, host.transcript)
        XCTAssertEqual(host.lines(containing: "plugin crasher failed").count, 1, host.transcript)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertEqual(host.reportedRestarts(of: "crasher"), 1, host.transcript)
        XCTAssertEqual(host.reportRows().first?["outcome"], "ok", host.transcript)
        assertNoWorkerLeft(host)
    }

    /// `fatal` every time with `--restart-max 2 --restart-window 60`: two restarts, then the third
    /// trap spends the budget: exit 71, naming the plugin and the signal, three processes in all.
    func testCrashingEveryTimeSpendsTheRestartBudget() throws {
        let host = try ChildProcess.host(
            [
                "--isolate", "--restart", "on-failure", "--restart-max", "2", "--restart-window", "60",
                Products.plugin("hello"), crasher,
            ] + settings("crasher", ["mode=fatal", "delay-ms=100"])
        )
        try host.expectExit(71, within: .seconds(60))
        let transcript = host.transcript
        let spent = try XCTUnwrap(host.lines(containing: "restart budget spent").first, transcript)
        XCTAssertTrue(
            spent.contains(
                "plugin crasher failed: its process died of signal 4 (SIGILL); restart budget spent (2 restarts within 60.000s)"
            ),
            spent
        )
        XCTAssertEqual(host.lines(containing: "restarting in").count, 2, transcript)
        XCTAssertEqual(host.lines(containing: "plugin crasher runs isolated in process").count, 3, transcript)
        XCTAssertEqual(host.lines(containing: "died of signal 4 (SIGILL) after").count, 3, transcript)
        XCTAssertEqual(host.reportedRestarts(of: "crasher"), 2, transcript)
        // The other plugin is torn down after the budget is spent, once.
        XCTAssertLessThan(
            host.index(of: "restart budget spent") ?? .max,
            host.index(of: "stopped plugin hello") ?? .min,
            transcript
        )
        XCTAssertEqual(host.lines(containing: "stopped plugin hello").count, 1, transcript)
        assertNoWorkerLeft(host)
    }

    // MARK: - 3. Reverse order across isolated and in-process plugins

    /// `a` in process, `b` isolated with an 800 ms shield, `c` isolated (a config file). SIGTERM:
    /// c, b, a stop in that order; b's shield finishes (`crasher shield done`, printed by its
    /// child) before b is reported stopped and before a stops; exit 0, and the report has one
    /// `ok` row per plugin in teardown order, b's wait phase (its child's own) at least 0.8 s.
    func testReverseOrderAcrossIsolatedAndInProcessPluginsWaitsForAnIsolatedShield() throws {
        let config = try configFile(
            """
            [[plugin]]
            load = "\(crasher)"
            alias = "a"
            [plugin.config]
            mode = "quiet"

            [[plugin]]
            load = "\(crasher)"
            alias = "b"
            isolate = true
            [plugin.config]
            mode = "shield"
            shield-ms = "800"

            [[plugin]]
            load = "\(crasher)"
            alias = "c"
            isolate = true
            [plugin.config]
            mode = "quiet"
            """
        )
        let host = try ChildProcess.host(["--config", config])
        try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(60))
        XCTAssertNil(host.index(of: "plugin a runs isolated"), host.transcript)
        let workers = try IsolatedChildren.waitForWorkers(2, of: host, within: .seconds(10))
        XCTAssertEqual(Set(workers.keys), ["b", "c"])

        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        let transcript = host.transcript
        XCTAssertNotNil(host.index(of: "shutdown started by SIGTERM: stopping 3 plugins in reverse load order"))
        let stopped = host.lines(containing: "stopped plugin ")
        XCTAssertEqual(stopped.count, 3, transcript)
        XCTAssertEqual(
            stopped.map { $0.components(separatedBy: "stopped plugin ").last?.prefix(1) ?? "" },
            ["c", "b", "a"],
            transcript
        )
        XCTAssertTrue(stopped.allSatisfy { $0.contains("[ok]") }, transcript)
        let shieldStarted = host.index(of: "[b] crasher shield started") ?? .max
        let shieldDone = host.index(of: "crasher shield done") ?? .max
        XCTAssertLessThan(host.index(of: "stopped plugin c") ?? .max, shieldStarted, transcript)
        XCTAssertLessThan(shieldStarted, shieldDone, transcript)
        XCTAssertLessThan(shieldDone, host.index(of: "stopped plugin b") ?? .min, transcript)
        XCTAssertLessThan(shieldDone, host.index(of: "stopped plugin a") ?? .min, transcript)
        XCTAssertEqual(host.lines(containing: "crasher shield done"), ["crasher shield done"], "not a whole line")

        let rows = host.reportRows()
        XCTAssertEqual(rows.map { $0["plugin"] ?? "?" }, ["c", "b", "a"], transcript)
        XCTAssertEqual(rows.map { $0["outcome"] ?? "?" }, ["ok", "ok", "ok"], transcript)
        XCTAssertEqual(rows.map { $0["restarts"] ?? "?" }, ["0", "0", "0"], transcript)
        let waitB = try XCTUnwrap(reportedSeconds(rows.first { $0["plugin"] == "b" }?["wait"]), transcript)
        XCTAssertGreaterThanOrEqual(waitB, 0.75, transcript)
        XCTAssertTrue(transcript.contains("shutdown report: trigger=SIGTERM"), transcript)
        IsolatedChildren.waitUntilGone(Array(workers.values), within: .seconds(5))
    }

    // MARK: - 4. A second signal during an isolated teardown

    /// `other` (quiet) then `crasher` (a 30 s shield), both isolated. SIGTERM starts crasher's
    /// teardown; once its shield runs, a second SIGTERM exits at once with 143, and neither child
    /// process is left (the host kills each one's process group).
    func testSecondSignalDuringAnIsolatedTeardownExits143AndLeavesNoChild() throws {
        let host = try ChildProcess.host(
            ["--isolate", "other=\(crasher)", crasher] + settings("other", ["mode=quiet"])
                + settings("crasher", ["mode=shield", "shield-ms=30000"])
        )
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        let workers = try IsolatedChildren.waitForWorkers(2, of: host, within: .seconds(10))
        host.send(SIGTERM)
        try host.waitForLine(containing: "[crasher] crasher shield started", within: .seconds(20))
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(10))
        XCTAssertLessThan(exit.afterSignal, .seconds(5), host.transcript)
        XCTAssertNotNil(
            host.index(of: "second signal SIGTERM during shutdown: exiting now with 143"),
            host.transcript
        )
        XCTAssertNil(host.index(of: "crasher shield done"), host.transcript)
        XCTAssertNil(host.index(of: "stopped plugin other"), host.transcript)
        let gone = IsolatedChildren.waitUntilGone(Array(workers.values), within: .seconds(5))
        assertNoWorkerLeft(host)
        print("isolation: second SIGTERM: exit 143 \(exit.afterSignal) after it; children gone \(gone) after the exit")
    }

    // MARK: - 5. The parent SIGKILLed

    /// Three isolated plugins; the host is SIGKILLed (no teardown, no handler): each child dies
    /// with it (its parent-death signal) within 5 s.
    func testChildrenDieWithASIGKILLedHost() throws {
        let host = try ChildProcess.host(
            ["--isolate", Products.plugin("hello"), Products.plugin("ticker"), crasher]
        )
        try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(60))
        let workers = try IsolatedChildren.waitForWorkers(3, of: host, within: .seconds(10))
        XCTAssertEqual(Set(workers.keys), ["hello", "ticker", "crasher"])
        for (name, process) in workers {
            XCTAssertEqual(ProcessStat(pid: process.pid)?.parent, host.process.processIdentifier, name)
            XCTAssertNotNil(host.index(of: "plugin \(name) runs isolated in process \(process.pid)"), host.transcript)
        }
        let exit = try host.stop(with: SIGKILL, expecting: 128 + SIGKILL, within: .seconds(10))
        let gone = IsolatedChildren.waitUntilGone(Array(workers.values), within: .seconds(5))
        print(
            "isolation: host SIGKILLed: its 3 children gone \(gone) after its exit (\(exit.afterSignal) after SIGKILL)"
        )
    }

    // MARK: - 6. A memory limit

    /// `--memory-limit crasher=64M`, crasher growing its memory, hello isolated too: the host
    /// kills the crasher's process, names the plugin and the limit, stops with exit 72, and hello
    /// is torn down (its goodbye).
    func testPluginExceedingItsMemoryLimitIsNamedAndStopsTheHost() throws {
        let host = try ChildProcess.host(
            ["--isolate", "--memory-limit", "crasher=64M", Products.plugin("hello"), crasher]
                + settings("crasher", ["mode=grow-memory"])
        )
        try host.expectExit(72, within: .seconds(60))
        let transcript = host.transcript
        let line = try XCTUnwrap(host.lines(containing: "exceeded its memory limit").first, transcript)
        XCTAssertTrue(line.contains(" error [crasher] plugin crasher's process "), line)
        XCTAssertTrue(line.contains("exceeded its memory limit of 64.0 MiB (resident "), line)
        XCTAssertTrue(line.contains("and was killed (SIGKILL)"), line)
        XCTAssertNotNil(
            host.index(of: "plugin crasher was lost: its process exceeded its memory limit of 64.0 MiB"),
            transcript
        )
        XCTAssertNil(host.index(of: "plugin hello's process"), transcript)
        XCTAssertLessThan(
            host.index(of: "plugin crasher was lost") ?? .max,
            host.index(of: "goodbye from hello") ?? .min,
            transcript
        )
        XCTAssertNotNil(host.index(of: "stopped plugin hello"), transcript)
        assertNoWorkerLeft(host)
    }

    // MARK: - 7. Logs and output

    /// `--log-format json` with a trapping isolated crasher: every stderr line of the host is a
    /// JSON object (the children's lines re-emitted, the runtime's crash message too), the
    /// crasher's lines carry `"plugin":"crasher"`, and the crash line is an error of crasher's.
    func testJSONLogsOfACrashingIsolatedPluginStayJSONWithItsName() throws {
        let errors = scratch.appendingPathComponent("stderr.jsonl")
        let host = try ChildProcess.host(
            ["--log-format", "json", "--isolate", crasher] + settings("crasher", ["mode=fatal"]),
            stderrTo: errors
        )
        let exit = try host.waitForExit(within: .seconds(60))
        let stderr = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertEqual(exit.code, 72, stderr)
        XCTAssertTrue(host.output.isEmpty, "stdout: \(host.transcript)")
        let objects = try jsonObjects(stderr)
        // Every line is the host's own (`plugin` null) or crasher's; the child's own lines (its
        // log lines, what it wrote to stderr: the runtime's crash message) are crasher's.
        for object in objects {
            let message = object["message"] as? String ?? ""
            let stream = (object["metadata"] as? [String: Any])?["stream"] as? String
            if object["plugin"] is NSNull {
                XCTAssertFalse(message.hasPrefix("crasher"), "a line of the child's without its name: \(object)")
                XCTAssertNil(stream, "a line of the child's stderr without its name: \(object)")
            } else {
                XCTAssertEqual(object["plugin"] as? String, "crasher", "\(object)")
            }
        }
        let childStderr = objects.filter { ($0["metadata"] as? [String: Any])?["stream"] as? String == "stderr" }
        XCTAssertFalse(childStderr.isEmpty, "the runtime's crash message is missing: \(stderr)")
        let ready = try XCTUnwrap(
            objects.first { ($0["message"] as? String)?.hasPrefix("crasher ready (pid") ?? false }
        )
        XCTAssertEqual(ready["plugin"] as? String, "crasher")
        XCTAssertEqual((ready["metadata"] as? [String: Any])?["mode"] as? String, "fatal")
        let fatal = try XCTUnwrap(
            objects.first { ($0["message"] as? String)?.contains("Fatal error") ?? false },
            stderr
        )
        XCTAssertEqual(fatal["plugin"] as? String, "crasher")
        let crash = try XCTUnwrap(
            objects.first { ($0["message"] as? String)?.hasPrefix("plugin crasher's process") ?? false },
            stderr
        )
        XCTAssertEqual(crash["plugin"] as? String, "crasher")
        XCTAssertEqual(crash["level"] as? String, "error")
        XCTAssertTrue((crash["message"] as? String)?.contains("died of signal 4 (SIGILL)") ?? false, "\(crash)")
        assertNoWorkerLeft(host)
    }

    /// Two isolated instances printing (`print-lines`) and logging at once, JSON logs: every
    /// stdout line is a whole `crasher line N`, each instance's numbers in order; every stderr
    /// line is a JSON object, each `crasher log N` carrying its instance's name in order.
    func testTwoIsolatedInstancesPrintWholeLinesInOrder() throws {
        let errors = scratch.appendingPathComponent("stderr.jsonl")
        let host = try ChildProcess.host(
            ["--log-format", "json", "--isolate", crasher, "c2=\(crasher)"]
                + settings("crasher", ["mode=print-lines", "delay-ms=0"])
                + settings("c2", ["mode=print-lines", "delay-ms=0"]),
            stderrTo: errors
        )
        // Both print: 100 lines each takes about 1 s.
        let deadline = ContinuousClock.now + .seconds(60)
        while host.lines(containing: "crasher line").count < 400 && ContinuousClock.now < deadline
            && host.process.isRunning
        {
            usleep(10_000)
        }
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        let stderr = try String(contentsOf: errors, encoding: .utf8)

        // stdout: whole lines, each instance's sequence 1, 2, 3, … (two counters, matched greedily:
        // a number matches the counter it continues; when both could, they are equal).
        let stdout = host.output.map(\.text)
        var next = (1, 1)
        for line in stdout {
            guard line.hasPrefix("crasher line "), let number = Int(line.dropFirst("crasher line ".count)) else {
                XCTFail("not a whole line: \(line.debugDescription)\n\(stderr)")
                continue
            }
            if number == next.0 {
                next.0 += 1
            } else if number == next.1 {
                next.1 += 1
            } else {
                XCTFail("line \(number) out of order (next: \(next.0), \(next.1))")
            }
        }
        XCTAssertGreaterThanOrEqual(min(next.0, next.1), 100, "too few lines of one instance: \(next)")

        // stderr: JSON objects; each instance's log lines in order, under its own name.
        let objects = try jsonObjects(stderr)
        var logged: [String: [Int]] = [:]
        for object in objects {
            guard let message = object["message"] as? String, message.hasPrefix("crasher log ") else { continue }
            let plugin = object["plugin"] as? String ?? "nil"
            logged[plugin, default: []].append(Int(message.dropFirst("crasher log ".count)) ?? -1)
        }
        XCTAssertEqual(Set(logged.keys), ["crasher", "c2"], stderr)
        for (plugin, numbers) in logged {
            XCTAssertEqual(numbers, Array(1...max(1, numbers.count)), "\(plugin)'s log lines out of order")
            XCTAssertGreaterThanOrEqual(numbers.count, 50, plugin)
        }
        assertNoWorkerLeft(host)
    }

    /// Every line of `text` parsed as a JSON object with the host's keys; fails on any other line.
    private func jsonObjects(
        _ text: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws
        -> [[String: Any]]
    {
        var objects: [[String: Any]] = []
        for row in text.split(separator: "\n") {
            let object = try XCTUnwrap(
                try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any],
                "not a JSON object: \(row)",
                file: file,
                line: line
            )
            for key in ["timestamp", "level", "label", "plugin", "message", "metadata"] {
                XCTAssertNotNil(object[key], "\(key) missing in \(row)", file: file, line: line)
            }
            objects.append(object)
        }
        XCTAssertFalse(objects.isEmpty, "no log lines", file: file, line: line)
        return objects
    }

    // MARK: - 8. A lost channel

    /// The crasher closes its end of the channel to the host (`AIORUN_PARENT_FD`) and runs on:
    /// its process notices within a quarter of a second and exits with 76 (a close does not wake
    /// the recv that holds the socket, so the host alone would never see it), the host names it
    /// (`lost its channel to the host (plugin code closed it)`), and stops with exit 72.
    func testPluginClosingItsChannelIsNamedAndStopsTheHost() throws {
        let host = try ChildProcess.host(["--isolate", crasher] + settings("crasher", ["mode=close-notify"]))
        try host.waitForLine(containing: "crasher closed fd 3 (AIORUN_PARENT_FD)", within: .seconds(60))
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        let line = try host.waitForLine(
            containing: "lost its channel to the host (plugin code closed it) and exited",
            within: .seconds(10)
        )
        XCTAssertTrue(line.text.contains(" error [crasher] plugin crasher's process "), line.text)
        try host.expectExit(72, within: .seconds(30))
        XCTAssertNotNil(
            host.index(of: "plugin crasher was lost: its process lost its channel to the host"),
            host.transcript
        )
        assertNoWorkerLeft(host)
    }

    // MARK: - An initializer that throws

    /// An isolated plugin's child starts while the host loads and creates the plugin there; when
    /// its initializer throws, the host rejects the plugin before anything starts (65), naming
    /// the child's reason, as for a plugin in process: no plugin's `run()` is entered, and no
    /// child is left. `--check --isolate` refuses it the same way (it creates it in the host).
    /// A restarted instance's initializer that throws is a failed start instead (the host runs).
    func testAnIsolatedInitializerThatThrowsIsRejectedBeforeAnythingStarts() throws {
        let faulty = Products.plugin("faulty")
        let arguments = ["--isolate", Products.plugin("hello"), faulty, "--set", "faulty.mode=init-throws"]
        let host = try ChildProcess.host(arguments)
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        try host.expectExit(65, within: .seconds(60))
        let transcript = host.transcript
        XCTAssertNotNil(
            host.index(
                of:
                    "create: the plugin's initializer threw: faulty refuses to start (mode=init-throws) (in its process, which exited with code 65)"
            ),
            transcript
        )
        XCTAssertNil(host.index(of: "hello from hello"), "a plugin started: \(transcript)")
        XCTAssertNil(host.index(of: "ready: "), transcript)
        IsolatedChildren.waitUntilGone(
            Array(IsolatedChildren.workers(of: host.process.processIdentifier).values),
            within: .seconds(5)
        )

        let check = try ChildProcess.host(["--check"] + arguments)
        try check.expectExit(65, within: .seconds(60))
        XCTAssertNotNil(check.index(of: "the plugin's initializer threw: faulty refuses to start"), check.transcript)
        XCTAssertTrue(IsolatedChildren.workers(of: check.process.processIdentifier).isEmpty)
    }

    // MARK: - A child that cannot answer

    /// A child that does not exit when told to stop (here it is stopped with SIGSTOP, so nothing in
    /// it runs, not even its own time limit) is killed with its process group once its time
    /// limit plus 2 s has passed, and named; its row says abandoned, the plugin loaded before it
    /// is still torn down, and the exit code is 70.
    func testAChildThatDoesNotExitIsKilledAtItsTimeLimitAndNamed() throws {
        let host = try ChildProcess.host([
            "--isolate", "--task-shutdown-timeout", "1", Products.plugin("hello"), crasher,
        ])
        defer { if host.process.isRunning { host.send(SIGKILL) } }
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        let workers = try IsolatedChildren.waitForWorkers(2, of: host, within: .seconds(10))
        let stuck = try XCTUnwrap(workers["crasher"])
        XCTAssertEqual(kill(stuck.pid, SIGSTOP), 0)
        host.send(SIGTERM)
        let started = try host.waitForLine(containing: "shutdown started by SIGTERM", within: .seconds(10))
        let killed = try host.waitForLine(
            containing: "did not exit within 3.000s of being told to stop and was killed (SIGKILL)",
            within: .seconds(20)
        )
        XCTAssertTrue(killed.text.contains(" error [crasher] plugin crasher's process "), killed.text)
        let waited = killed.at - started.at
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(2900), "killed before its time limit\n\(host.transcript)")
        XCTAssertLessThan(waited, .seconds(10), host.transcript)
        try host.expectExit(70, within: .seconds(30))
        let transcript = host.transcript
        let crasherStopped = try XCTUnwrap(host.index(of: "stopped plugin crasher in "), transcript)
        let helloStopped = try XCTUnwrap(host.index(of: "stopped plugin hello in "), transcript)
        XCTAssertLessThan(crasherStopped, helloStopped, transcript)
        XCTAssertTrue(
            host.lines(containing: "stopped plugin crasher in ").first?.contains("[abandoned 1 at wait]") ?? false,
            transcript
        )
        XCTAssertNotNil(host.index(of: "its process, which did not exit within 3.000s"), transcript)
        IsolatedChildren.waitUntilGone(Array(workers.values), within: .seconds(5))
    }

    // MARK: - 9. --check

    /// `--check --isolate` checks each plugin and says `isolated=yes`; an entry's
    /// `isolate = false` says `isolated=no`. Nothing starts: no worker process, exit 0.
    func testCheckSaysIsolated() throws {
        let config = try configFile(
            """
            [[plugin]]
            load = "\(Products.plugin("hello"))"
            isolate = false
            """
        )
        let host = try ChildProcess.host(["--check", "--isolate", "--config", config, crasher, "c2=\(crasher)"])
        try host.expectExit(0, within: .seconds(60))
        let transcript = host.transcript
        let lines = host.lines(containing: "ok ")
        XCTAssertEqual(lines.count, 3, transcript)
        for (name, isolated) in [("hello", "no"), ("crasher", "yes"), ("c2", "yes")] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("ok \(name) ") }, transcript)
            XCTAssertTrue(line.hasSuffix(" isolated=\(isolated)"), line)
        }
        XCTAssertNil(host.index(of: "runs isolated in process"), transcript)
        assertNoWorkerLeft(host)
    }
}
