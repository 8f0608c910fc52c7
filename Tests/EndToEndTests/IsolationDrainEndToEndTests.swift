import Foundation
import XCTest

/// Isolation and the drain delay (README, "Isolation", "Drain delay"): an isolated plugin reads
/// `isDraining` as true during the host's drain delay, as one in process does, so its readiness
/// endpoint can answer 503 before its teardown starts; and the teardown waits for the delay. With
/// the real host, two isolated plugins (real child processes) and a real signal; every wait is
/// bounded.
final class IsolationDrainEndToEndTests: XCTestCase {
    func testAnIsolatedPluginSeesTheDrainBeforeItsTeardown() throws {
        let host = try ChildProcess.host([
            "--isolate", "--drain-delay", "1.5", "first=\(Products.plugin("crasher"))",
            "iso=\(Products.plugin("crasher"))",
            "--set", "first.mode=watch-draining", "--set", "iso.mode=watch-draining",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        host.send(SIGTERM)
        let notice = try host.waitForLine(
            containing: "draining for 1.500s before stopping 2 plugins",
            within: .seconds(10)
        )
        let seen = try host.waitForLine(containing: "[iso] crasher sees draining", within: .seconds(10))
        _ = try host.expectExit(0, within: .seconds(30))
        let stopped = try XCTUnwrap(host.index(of: "stopped plugin iso"), host.transcript)
        let seenAt = try XCTUnwrap(host.index(of: "[iso] crasher sees draining"), host.transcript)
        XCTAssertLessThan(seenAt, stopped, "the plugin saw the drain only in its teardown\n\(host.transcript)")
        XCTAssertLessThan(seen.at - notice.at, .seconds(1), "the drain reached the child late\n\(host.transcript)")
        XCTAssertNotNil(host.index(of: "[first] crasher sees draining"), host.transcript)
    }
}
