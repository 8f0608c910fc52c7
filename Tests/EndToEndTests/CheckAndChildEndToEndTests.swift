import Foundation
import XCTest

/// Edges found by review of the hostile-conditions work (README, Failure modes and Exit codes):
/// a `--check` cut short never passes, work started during the drain is waited for, a process
/// that plugin code forks is not the host, the host's child processes never outlive it, and a
/// signal during the pre-flight runs no further plugin code in the host.
final class CheckAndChildEndToEndTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder(for: self)
    }

    /// A C library whose constructor runs `body` (see `Scratch.constructorLibrary`).
    func constructorLibrary(_ name: String, _ body: String) throws -> String {
        try Scratch.constructorLibrary(name, body, in: scratch)
    }

    /// systemd's `TimeoutStartSec` sends SIGTERM to a slow `ExecStartPre=aiorun-host --check`.
    /// Before: the check printed `ok` for plugins it never created and exited 0, so a broken
    /// plugin passed the gate. Now only created plugins are `ok`, and the exit is 128+15.
    func testSignalDuringCheckNeverPassesTheCheck() throws {
        let faulty = Products.plugin("faulty")
        let host = try ChildProcess.host([
            "--check", faulty, "f2=\(faulty)", "--set", "faulty.init-delay-ms=1500", "--set", "f2.mode=init-throws",
        ])
        try host.waitForLine(containing: "faulty initializing", within: .seconds(30))
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(20))
        XCTAssertLessThan(exit.afterSignal, .seconds(10), host.transcript)
        XCTAssertTrue(host.lines(containing: "ok f2").isEmpty, host.transcript)
        let error = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(error.contains("check interrupted by SIGTERM: 1 of 2 plugins checked"), error)
    }

    /// `--check` whose report cannot be written (stdout is /dev/full) must not exit 0. Before:
    /// exit 0 with no `ok` line anywhere.
    func testCheckReportThatCannotBeWrittenFails() throws {
        let process = Process()
        process.executableURL = Products.host
        process.arguments = ["--check", Products.plugin("hello")]
        process.standardOutput = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        XCTAssertFalse(process.isRunning)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 74, message)
        XCTAssertTrue(message.contains("cannot write the check report to stdout"), message)
    }

    /// An executor job still running in phase 4 (its caller was cancelled in phase 2) registers
    /// an `onShutdown` callback. Before: counted as tracked but never waited for, the report
    /// said `[ok]` and the callback was cut. Now the drain waits for it.
    func testWorkStartedDuringTheDrainIsWaitedFor() throws {
        for run in 0..<3 {
            let host = try ChildProcess.host([
                Products.plugin("faulty"), "--set", "faulty.mode=drain-late-work", "--set", "faulty.delay-ms=400",
            ])
            try host.waitForLine(containing: "drain-late work started", within: .seconds(30))
            try host.stop(with: SIGTERM, expecting: 0, within: .seconds(20))
            let done = try XCTUnwrap(host.index(of: "drain-late callback done"), "run \(run):\n\(host.transcript)")
            let stopped = try XCTUnwrap(host.index(of: "stopped plugin faulty"), host.transcript)
            XCTAssertLessThan(done, stopped, "run \(run):\n\(host.transcript)")
        }
    }

    /// A library constructor that forks a child which calls `exit(0)`: the child is not the
    /// host. Before: the child wrote a false "plugin code called exit(0)" error line of its own.
    func testExitInAForkedChildIsNotTheHosts() throws {
        let library = try constructorLibrary("libforkexit.so", "if (fork() == 0) { exit(0); } usleep(200000);")
        let host = try ChildProcess.host(["--check", Products.plugin("hello"), library])
        try host.expectExit(65, within: .seconds(30))
        XCTAssertTrue(host.lines(containing: "called exit(").isEmpty, host.transcript)
        let errors = host.lines(containing: "aiorun-host: error:")
        XCTAssertEqual(errors.count, 1, host.transcript)
        XCTAssertTrue(
            errors.first?.contains("no aiorun_plugin_entry") == true || errors.first?.contains("handshake") == true,
            host.transcript
        )
    }

    /// A second signal while the pre-flight child hangs in a constructor: the host exits 143 at
    /// once, and its child goes with it. Before: the child lived on under PID 1 for about a
    /// minute, in a process group of its own that no Ctrl-C reaches.
    func testForcedExitLeavesNoChildBehind() throws {
        let library = try constructorLibrary("libsleepctor.so", "sleep(60);")
        let host = try ChildProcess.host(["--preflight", Products.plugin("hello"), library])
        let hostPID = host.process.processIdentifier
        let child = try waitForChild(of: hostPID, within: .seconds(30))
        host.send(SIGTERM)
        try host.waitForLine(containing: "while plugins load", within: .seconds(10))
        try host.stop(with: SIGTERM, expecting: 143, within: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(5)
        while processExists(child) && ContinuousClock.now < deadline { usleep(20_000) }
        XCTAssertFalse(processExists(child), "pre-flight child \(child) outlived the host:\n\(host.transcript)")
    }

    /// One signal during the pre-flight: the host runs none of the libraries' constructors
    /// itself afterwards (it would only tear them down again). Before: it dlopened every plugin
    /// after the pre-flight ended. Each constructor run appends its pid to a file (the
    /// pre-flight child's own output is not shown).
    func testSignalDuringPreflightRunsNoMorePluginCodeInTheHost() throws {
        let log = scratch.appendingPathComponent("constructors.log").path
        let library = try constructorLibrary(
            "libslowctor.so",
            "FILE *f = fopen(\"\(log)\", \"a\"); if (f) { fprintf(f, \"%d\\n\", getpid()); fclose(f); } sleep(2);"
        )
        let host = try ChildProcess.host(["--preflight", Products.plugin("hello"), library])
        let hostPID = host.process.processIdentifier
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? String(contentsOfFile: log, encoding: .utf8))?.isEmpty ?? true {
            guard ContinuousClock.now < deadline else { return XCTFail("no constructor ran:\n\(host.transcript)") }
            usleep(20_000)
        }
        host.send(SIGTERM)
        let exit = try host.waitForExit(within: .seconds(30))
        XCTAssertTrue([0, 65].contains(exit.code), host.transcript)
        let pids = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertFalse(pids.contains("\(hostPID)"), "the host ran the constructor itself after the signal: \(pids)")
        XCTAssertNil(host.index(of: "ready:"), host.transcript)
    }

    // MARK: - Processes

    /// The pid of the host's internal child process, once it runs.
    private func waitForChild(of parent: Int32, within timeout: Duration) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry),
                    let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
                else { continue }
                let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if arguments.count > 3, arguments[1] == "--aiorun-internal-child", arguments[3] == String(parent) {
                    return pid
                }
            }
            usleep(20_000)
        }
        XCTFail("no internal child of \(parent) within \(timeout)")
        throw HostTestError.timeout
    }

    /// Whether `pid` is a live process (a zombie counts as gone).
    private func processExists(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = status.lastIndex(of: ")") else { return false }
        return !status[status.index(after: close)...].hasPrefix(" Z")
    }
}
