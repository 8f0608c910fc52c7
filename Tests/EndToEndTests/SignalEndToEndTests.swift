import Foundation
import XCTest

/// Signals stay the host's (README, Failure modes, Signals): plugin code that changes the host's
/// signal dispositions is refused or undone and named, `raise` from plugin code acts like the
/// signal sent to the process, and the signals an operator commonly sends never end the host
/// without teardown. The real host, the `signal-misuse` fixture plugin and real signals; every
/// wait is bounded generously for a loaded 2-core machine.
final class SignalEndToEndTests: XCTestCase {
    /// Starts the host with `signal-misuse` configured by `settings` (`key=value`, without the
    /// plugin name) and waits for `ready`.
    func startMisuse(_ settings: [String], plugins: [String] = []) throws -> ChildProcess {
        var arguments = plugins
        arguments.append(Products.plugin("signal-misuse"))
        for setting in settings { arguments += ["--set", "signal-misuse.\(setting)"] }
        let host = try ChildProcess.host(arguments)
        try host.waitForLine(containing: "ready: ", within: .seconds(30))
        return host
    }

    /// After the warning, SIGTERM still starts the normal teardown: exit 0 and a report.
    func assertGracefulStop(
        _ host: ChildProcess,
        by signal: Int32 = SIGTERM,
        name: String = "SIGTERM",
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        host.send(signal)
        let exit = try host.waitForExit(within: .seconds(15), file: file, line: line)
        XCTAssertEqual(exit.code, 0, host.transcript, file: file, line: line)
        XCTAssertNotNil(host.index(of: "shutdown started by \(name)"), host.transcript, file: file, line: line)
        XCTAssertNotNil(host.index(of: "stopped plugin signal-misuse"), host.transcript, file: file, line: line)
    }

    /// `signal(SIGTERM, SIG_IGN)` in the plugin's initializer: refused with a warning naming the
    /// plugin, and SIGTERM still stops the host cleanly.
    func testSIGTERMIgnoredInInitializerIsRefusedAndNamed() throws {
        let host = try startMisuse(["action=ignore", "when=init"])
        let warning = try host.waitForLine(containing: "tried to set SIGTERM to SIG_IGN", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        XCTAssertTrue(warning.text.contains("refused"), warning.text)
        try assertGracefulStop(host)
    }

    /// The same from `run()`, after the host is ready.
    func testSIGTERMIgnoredInRunIsRefusedAndNamed() throws {
        let host = try startMisuse(["action=ignore", "when=run", "delay-ms=100"])
        try host.waitForLine(containing: "did ignore SIGTERM in run", within: .seconds(10))
        let warning = try host.waitForLine(containing: "tried to set SIGTERM to SIG_IGN", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        try assertGracefulStop(host)
    }

    /// `signal(SIGTERM, SIG_DFL)` would make SIGTERM kill the host without teardown (143, the
    /// code of a forced exit): refused, and SIGTERM stops it cleanly with 0.
    func testSIGTERMDefaultIsRefusedAndNamed() throws {
        let host = try startMisuse(["action=default", "when=run", "delay-ms=100"])
        let warning = try host.waitForLine(containing: "tried to set SIGTERM to SIG_DFL", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        try assertGracefulStop(host)
    }

    /// A handler of the plugin's own for SIGINT, through `sigaction`: refused; SIGINT goes to
    /// the host, never to the plugin's handler.
    func testSIGINTHandlerIsRefusedAndNeverCalled() throws {
        let host = try startMisuse(["action=handler", "signal=SIGINT", "when=init"])
        let warning = try host.waitForLine(containing: "tried to set SIGINT to a handler", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        XCTAssertTrue(warning.text.contains("sigaction()"), warning.text)
        try assertGracefulStop(host, by: SIGINT, name: "SIGINT")
        XCTAssertNil(host.index(of: "signal-misuse caught"), host.transcript)
    }

    /// SIGPIPE stays ignored: a plugin setting it back to SIG_DFL is refused (a reader that goes
    /// away must give EPIPE, not end the host).
    func testSIGPIPEDefaultIsRefused() throws {
        let host = try startMisuse(["action=default", "signal=SIGPIPE", "when=init"])
        let warning = try host.waitForLine(containing: "tried to set SIGPIPE to SIG_DFL", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        try assertGracefulStop(host)
    }

    /// A change the guard cannot see (libc's own `sigaction` found through `dlsym`) is found by
    /// the periodic check, restored, and blamed on the running plugin.
    func testBypassedChangeIsRestoredAndNamed() throws {
        let host = try startMisuse(["action=bypass-ignore", "when=run", "delay-ms=100"])
        try host.waitForLine(containing: "did bypass-ignore SIGTERM in run", within: .seconds(10))
        let warning = try host.waitForLine(containing: "SIGTERM was changed to SIG_IGN", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        XCTAssertTrue(warning.text.contains("restored"), warning.text)
        try assertGracefulStop(host)
    }

    /// A handler set behind the host's back, by a plugin loaded between two others: only the
    /// library holding the handler can name the plugin, so this checks which plugin each library
    /// was attributed to as the plugins loaded (README, Failure modes, Signals). Once as plugins
    /// usually load (the guard looks only at objects added since its last look), once with the
    /// plugin's initializer unloading a library (the guard looks at every object again).
    func testBypassedHandlerIsBlamedOnThePluginWhoseLibraryHoldsIt() throws {
        for churn in [[], ["--set", "signal-misuse.load-and-unload=libanl.so.1"]] {
            let host = try ChildProcess.host(
                [
                    Products.plugin("hello"), Products.plugin("signal-misuse"), Products.plugin("ticker"),
                    "--set", "signal-misuse.action=bypass-handler", "--set", "signal-misuse.when=run",
                    "--set", "signal-misuse.delay-ms=100",
                ] + churn
            )
            try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(30))
            try host.waitForLine(containing: "did bypass-handler SIGTERM in run", within: .seconds(10))
            let warning = try host.waitForLine(containing: "SIGTERM was changed to a handler", within: .seconds(10))
            XCTAssertTrue(warning.text.contains("by plugin signal-misuse;"), "\(churn): \(warning.text)")
            XCTAssertTrue(warning.text.contains("libsignal-misuse.so"), warning.text)
            host.send(SIGTERM)
            let exit = try host.waitForExit(within: .seconds(15))
            XCTAssertEqual(exit.code, 0, host.transcript)
        }
    }

    /// A dispatch signal source of the plugin's own for SIGTERM (how Vapor's serve command and
    /// swift-service-lifecycle watch it on Linux, with no sigaction at all) is named: the plugin
    /// will react to the host's SIGTERM on its own. The host still stops cleanly.
    func testOwnSignalSourceIsNamed() throws {
        let host = try startMisuse(["action=watch", "when=run", "delay-ms=100"])
        let warning = try host.waitForLine(containing: "watches SIGTERM itself", within: .seconds(10))
        XCTAssertTrue(warning.text.contains("plugin signal-misuse"), warning.text)
        try assertGracefulStop(host)
    }

    /// SIGHUP, SIGUSR1 and SIGUSR2 used to end the host without teardown (129, 138, 140). Now
    /// each is logged, SIGUSR1 with a status report, and the host keeps running; during shutdown
    /// they are not a second signal. SIGTERM then stops the host with its shield finished.
    func testHangupAndUserSignalsKeepTheHostRunning() throws {
        let host = try startMisuse(["shield-ms=4000"], plugins: [Products.plugin("hello")])
        usleep(200_000)
        host.send(SIGHUP)
        try host.waitForLine(containing: "SIGHUP received and ignored", within: .seconds(10))
        host.send(SIGUSR1)
        try host.waitForLine(containing: "status (SIGUSR1): 2 plugins", within: .seconds(10))
        let status = try host.waitForLine(containing: "  signal-misuse: running", within: .seconds(10))
        XCTAssertTrue(status.text.contains("1 shields"), status.text)
        XCTAssertNotNil(host.index(of: "  hello: running"), host.transcript)
        host.send(SIGUSR2)
        try host.waitForLine(containing: "SIGUSR2 received and ignored", within: .seconds(10))
        XCTAssertTrue(host.process.isRunning, host.transcript)
        XCTAssertNil(host.index(of: "signal-misuse shield done"), "the shield must still be running")

        host.send(SIGTERM)
        try host.waitForLine(containing: "shutdown started by SIGTERM", within: .seconds(10))
        host.send(SIGUSR1)
        let stopping = try host.waitForLine(containing: "  signal-misuse: stopping", within: .seconds(10))
        XCTAssertTrue(stopping.text.contains("1 shields"), stopping.text)
        XCTAssertNotNil(host.index(of: "running, waiting for its teardown"), host.transcript)
        XCTAssertNotNil(host.index(of: "shutting down for"), host.transcript)
        host.send(SIGHUP)
        try host.stop(with: SIGUSR2, expecting: 0, within: .seconds(15))
        XCTAssertNil(host.index(of: "second signal"), host.transcript)
        let shieldDone = try XCTUnwrap(host.index(of: "signal-misuse shield done"), host.transcript)
        XCTAssertLessThan(shieldDone, try XCTUnwrap(host.index(of: "stopped plugin signal-misuse")))
        XCTAssertNotNil(host.index(of: "goodbye from hello"), host.transcript)
    }

    /// `raise(SIGINT)` from a plugin's task (a pool thread, where the signal is blocked) used to
    /// be lost, and the host ran on forever. It now starts the graceful shutdown like SIGINT
    /// sent to the process, and the raise is named.
    func testRaiseSIGINTFromPluginTaskShutsDownGracefully() throws {
        let host = try startMisuse(["action=raise", "signal=SIGINT", "delay-ms=200", "shield-ms=1000"])
        try host.expectExit(0, within: .seconds(15))
        XCTAssertNotNil(host.index(of: "shutdown started by SIGINT"), host.transcript)
        let named = host.lines(containing: "called raise(SIGINT)")
        XCTAssertEqual(named.count, 1, host.transcript)
        XCTAssertTrue(named.first?.contains("plugin signal-misuse") ?? false, host.transcript)
        let shieldDone = try XCTUnwrap(host.index(of: "signal-misuse shield done"), host.transcript)
        XCTAssertLessThan(shieldDone, try XCTUnwrap(host.index(of: "stopped plugin signal-misuse")))
    }

    /// `raise(SIGTERM)` during shutdown (from the plugin's `onShutdown` callback) is a second
    /// signal: the host logs what is still running and exits at once with 143.
    func testRaiseDuringShutdownEscalates() throws {
        let host = try startMisuse(["action=raise-in-callback", "signal=SIGTERM"])
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(15))
        XCTAssertLessThan(exit.afterSignal, .seconds(8), "the callback's 10 s sleep must be cut")
        XCTAssertNotNil(host.index(of: "second signal SIGTERM during shutdown"), host.transcript)
        XCTAssertNotNil(host.index(of: "called raise(SIGTERM)"), host.transcript)
    }
}
