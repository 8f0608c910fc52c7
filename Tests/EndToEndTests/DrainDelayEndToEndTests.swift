import Foundation
import Synchronization
import XCTest

/// The drain delay (issue 13; README, "Drain delay"): on the first signal the host waits
/// `--drain-delay` while everything keeps serving and `/readyz` of the Hummingbird example says
/// 503, then tears down as usual (README, "How shutdown proceeds"). With the real host, the
/// example built by the test, real signals and a raw-socket client. Every wait is bounded.
final class DrainDelayEndToEndTests: XCTestCase {
    /// Under clients that keep opening connections through a SIGTERM with `--drain-delay 2`:
    /// - no connection attempted before the delay ends is refused, and every request made in its
    ///   first 1.5 s gets a complete answer (the last half second is left out: once the teardown
    ///   starts, Hummingbird resets connections it has not read, SERVER-PLUGINS.md, "What the drain
    ///   does not cover");
    /// - `/readyz` says 200 before the signal and 503 `draining` for every request made after the
    ///   host's `draining for` line, while `/livez` and `/` still say 200;
    /// - a slow request in flight at the signal and one made during the delay both finish with 200;
    /// - the listener closes only after the delay, then the usual teardown, exit 0.
    func testDrainDelayKeepsServingWhileReadyzSays503() throws {
        let library = try HTTPPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([library, "--set", "http.port=\(port)", "--drain-delay", "2"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        let before = HTTPClient.get(port: port, path: "/readyz")
        XCTAssertTrue(before.isComplete200 && before.body == "ready", "\(before)\n\(host.transcript)")

        let clients = ConnectionHammer(port: port, paths: ["/readyz", "/livez", "/", "/readyz"], threads: 2)
        let inFlight = InFlightRequest(port: port, path: "/slow?ms=3000")
        try host.waitForLine(containing: "hb.request.path=/slow?ms=3000", within: .seconds(10))
        usleep(300_000)
        let signalled = ContinuousClock.now
        host.send(SIGTERM)
        let notice = try host.waitForLine(
            containing: "draining for 2.000s before stopping 1 plugins",
            within: .seconds(5)
        )
        usleep(500_000)
        let duringDelay = InFlightRequest(port: port, path: "/slow?ms=2500")
        let exit = try host.expectExit(0, within: .seconds(30))
        clients.stop()
        XCTAssertTrue(clients.join(within: .seconds(30)), "client threads did not end")

        let delayEnd = signalled + .seconds(2)
        let records = clients.records
        let transcript = host.transcript
        let inDelay = records.filter { $0.startedAt >= signalled && $0.startedAt < delayEnd - .milliseconds(100) }
        let refusedEarly = records.filter { $0.response.refused && $0.startedAt < delayEnd - .milliseconds(100) }
        XCTAssertTrue(refusedEarly.isEmpty, "refused during the drain delay: \(refusedEarly.prefix(5))\n\(transcript)")
        let firstHalf = inDelay.filter { $0.startedAt < signalled + .milliseconds(1500) }
        let incomplete = firstHalf.filter { !$0.response.complete }
        XCTAssertTrue(incomplete.isEmpty, "requests cut during the delay: \(incomplete.prefix(5))\n\(transcript)")
        XCTAssertGreaterThan(firstHalf.count, 20, "too few requests during the delay to show anything")

        let readyz = records.filter { $0.path == "/readyz" }
        let readyBefore = readyz.filter { $0.finishedAt < signalled }
        XCTAssertFalse(readyBefore.isEmpty)
        XCTAssertTrue(readyBefore.allSatisfy { $0.response.status == 200 }, "\(readyBefore.prefix(5))")
        let afterNotice = readyz.filter { $0.startedAt > notice.at && $0.startedAt < delayEnd - .milliseconds(100) }
        XCTAssertGreaterThan(afterNotice.count, 5, "too few /readyz requests during the delay")
        let notDraining = afterNotice.filter { !($0.response.status == 503 && $0.response.body == "draining") }
        XCTAssertTrue(notDraining.isEmpty, "/readyz not 503 during the delay: \(notDraining.prefix(5))\n\(transcript)")
        let others = inDelay.filter { $0.path != "/readyz" && $0.startedAt < signalled + .milliseconds(1500) }
        XCTAssertFalse(others.isEmpty)
        XCTAssertTrue(
            others.allSatisfy { $0.response.isComplete200 },
            "\(others.filter { !$0.response.isComplete200 })"
        )

        // The listener closed only after the delay: the first refusal came later than 2 s.
        let firstRefused = try XCTUnwrap(records.first { $0.response.refused }, "never refused:\n\(transcript)")
        XCTAssertGreaterThanOrEqual(firstRefused.startedAt, delayEnd, transcript)

        let slow = try inFlight.wait(within: .seconds(20))
        XCTAssertTrue(
            slow.response.isComplete200 && slow.response.body == "slow done",
            "\(slow.response)\n\(transcript)"
        )
        XCTAssertGreaterThan(slow.at, delayEnd, "the slow request was not in flight at the teardown")
        let late = try duringDelay.wait(within: .seconds(20))
        XCTAssertTrue(late.response.isComplete200, "\(late.response)\n\(transcript)")

        // Then the usual teardown, after the delay.
        let stopped = try XCTUnwrap(host.index(of: "stopped plugin http"), transcript)
        XCTAssertGreaterThan(stopped, try XCTUnwrap(host.index(of: "draining for 2.000s")), transcript)
        XCTAssertGreaterThanOrEqual(host.output[stopped].at - signalled, .seconds(2), transcript)
        XCTAssertGreaterThanOrEqual(exit.at - signalled, .seconds(2), transcript)
        print(
            "drain delay 2 s: \(records.count) requests, \(inDelay.count) during the delay (none refused), "
                + "\(afterNotice.count) /readyz 503 during it; first refusal \(firstRefused.startedAt - signalled) "
                + "and exit \(exit.at - signalled) after SIGTERM"
        )
    }

    /// A second SIGTERM during the delay forces the exit at once: 143, long before the 5 s delay
    /// would have ended. Between the two signals the server still answered.
    func testSecondSignalDuringTheDelayExits143() throws {
        let library = try HTTPPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([library, "--set", "http.port=\(port)", "--drain-delay", "5"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        let signalled = ContinuousClock.now
        host.send(SIGTERM)
        try host.waitForLine(containing: "draining for 5.000s", within: .seconds(5))
        let during = HTTPClient.get(port: port, path: "/")
        XCTAssertTrue(during.isComplete200, "\(during)\n\(host.transcript)")
        let exit = try host.stop(with: SIGTERM, expecting: 143, within: .seconds(10))
        XCTAssertLessThan(
            exit.at - signalled,
            .seconds(4),
            "the second signal waited for the delay:\n\(host.transcript)"
        )
        XCTAssertNil(host.index(of: "stopped plugin http"), host.transcript)
    }

    /// The delay is for signals only: a plugin's `requestShutdown` stops the host without it.
    func testRequestShutdownDoesNotWaitForTheDelay() throws {
        let host = try ChildProcess.host([
            Products.plugin("faulty"), "--set", "faulty.mode=request-shutdown", "--set", "faulty.delay-ms=100",
            "--drain-delay", "5",
        ])
        let exit = try host.expectExit(0, within: .seconds(30))
        XCTAssertLessThan(exit.at - host.started, .seconds(4), host.transcript)
        XCTAssertNil(host.index(of: "draining for"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin faulty"), host.transcript)
    }
}

/// Client threads that keep opening connections, each a `GET` of the next of `paths` with
/// `Connection: close`, until stopped or refused (the server has gone); every request recorded
/// with when it began.
private final class ConnectionHammer: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        let path: String
        let startedAt: ContinuousClock.Instant
        let finishedAt: ContinuousClock.Instant
        let response: HTTPResponse
        var description: String { "\(path) at \(startedAt): \(response)" }
    }

    private let state = Mutex<(records: [Record], running: Int, stopped: Bool)>(([], 0, false))

    init(port: Int, paths: [String], threads: Int) {
        state.withLock { $0.running = threads }
        for thread in 0..<threads {
            Thread { [self] in
                var next = thread
                while !state.withLock({ $0.stopped }) {
                    let path = paths[next % paths.count]
                    next += 1
                    let startedAt = ContinuousClock.now
                    let response = HTTPClient.get(port: port, path: path, timeout: .seconds(10))
                    state.withLock {
                        $0.records.append(
                            Record(path: path, startedAt: startedAt, finishedAt: .now, response: response)
                        )
                    }
                    if response.refused { break }
                    usleep(5_000)
                }
                state.withLock { $0.running -= 1 }
            }.start()
        }
    }

    /// Every request so far, in the order they began.
    var records: [Record] { state.withLock { $0.records }.sorted { $0.startedAt < $1.startedAt } }

    func stop() { state.withLock { $0.stopped = true } }

    /// Waits until every thread has ended; false on timeout.
    func join(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.running }) == 0 { return true }
            usleep(10_000)
        }
        return false
    }
}
