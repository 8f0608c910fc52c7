import Foundation
import Synchronization
import XCTest

/// A Vapor 4 server as a plugin (issue 17): examples/VaporPlugin, built by the test with
/// `swift build` and run in the real host, driven over loopback with a raw-socket HTTP/1.1
/// client. Every wait is bounded. The Hummingbird counterpart is HTTPPluginEndToEndTests.
final class VaporPluginEndToEndTests: XCTestCase {
    /// Two aliases of one .so on two ports: each answers `/` with its own name, `/livez` and
    /// `/readyz` answer 200, and Vapor's request log lines (written on NIO's event-loop threads,
    /// outside any plugin task) carry the alias that served them, through the logger bound to
    /// each instance. SIGTERM stops both with exit 0.
    func testAliasesAnswerWithTheirNamesAndLogAsThemselves() throws {
        let (host, portA, portB) = try startTwoAliases(of: try VaporPluginLibrary.path())
        for _ in 0..<3 { assertAliasesAnswerAndAreReady(portA: portA, portB: portB) }

        // Vapor's RouteLoggingMiddleware line (`GET /readyz`, the last request of each), with
        // the instance's `port` metadata.
        try host.waitForLine(containing: "[a] GET /readyz port=\(portA)", within: .seconds(10))
        try host.waitForLine(containing: "[b] GET /readyz port=\(portB)", within: .seconds(10))
        let requestLines = host.lines(containing: " GET /")
        XCTAssertGreaterThanOrEqual(requestLines.count, 12, host.transcript)
        let misnamed = requestLines.filter {
            !($0.contains("[a] GET") && $0.contains("port=\(portA)"))
                && !($0.contains("[b] GET") && $0.contains("port=\(portB)"))
        }
        XCTAssertTrue(
            misnamed.isEmpty,
            "request lines named after the other alias:\n\(misnamed.joined(separator: "\n"))"
        )

        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertNotNil(host.index(of: "stopped plugin b"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin a"), host.transcript)
    }

    /// A 1 s request in flight at SIGTERM completes with 200. b (loaded last) drains first: it
    /// refuses new connections at once, while a still serves; both ports are closed after the
    /// exit, which is 0, and b stopped before a.
    func testSlowRequestInFlightAtSIGTERMCompletesAndNewConnectionsAreRefused() throws {
        let host = try assertDrainWithRequestsInFlight(
            library: try VaporPluginLibrary.path(),
            example: "VaporPlugin",
            requestLogged: { "GET /slow port=\($0)" }
        )
        XCTAssertNil(host.index(of: "Server stop took too long"), host.transcript)
    }

    /// Vapor's own shutdown timeout comes from the host's time limit (`context.shutdownTimeout`,
    /// here 2 s: Vapor's is 1.6 s). A 5 s request outlives both: Vapor gives up first, the plugin
    /// says so and keeps waiting, and the host's limit ends the drain with exit 70 naming
    /// `vapor server`, well before the request would have ended.
    func testTimeLimitEndsALongDrainWithExit70NamingTheServer() throws {
        let library = try VaporPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([library, "--set", "vapor.port=\(port)", "--task-shutdown-timeout", "2"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        try waitUntilServing(port: port, host: host)

        let slow = InFlightRequest(port: port, path: "/slow?ms=5000")
        try host.waitForLine(containing: "GET /slow port=\(port)", within: .seconds(10))
        let exit = try host.stop(with: SIGTERM, expecting: 70, within: .seconds(30))
        XCTAssertLessThan(
            exit.afterSignal,
            .milliseconds(4500),
            "the host waited for the 5 s request:\n\(host.transcript)"
        )
        let vaporGaveUp = try host.waitForLine(
            containing: "Vapor's shutdown timeout of 1.6 seconds expired",
            within: .seconds(1)
        )
        XCTAssertTrue(vaporGaveUp.text.contains("[vapor]"), vaporGaveUp.text)
        XCTAssertTrue(vaporGaveUp.text.contains("1 request(s) in flight"), vaporGaveUp.text)
        let limitLine = try host.waitForLine(containing: "time limit of", within: .seconds(1))
        XCTAssertTrue(limitLine.text.contains("[vapor]"), limitLine.text)
        XCTAssertTrue(limitLine.text.contains("vapor server"), "the abandoned shield is not named: \(limitLine.text)")
        XCTAssertLessThan(
            try XCTUnwrap(host.index(of: "Vapor's shutdown timeout")),
            try XCTUnwrap(host.index(of: "time limit of")),
            host.transcript
        )
        print("VaporPlugin time limit: exit 70 \(exit.afterSignal) after SIGTERM")
        _ = try slow.wait(within: .seconds(20))  // the connection dies with the host
    }

    /// Ready when listening (readiness `.whenReported`): the host starts b only once a listens,
    /// and a connection made the moment `ready: 2 plugins running` is logged, without any retry,
    /// is answered by both.
    func testReadyLineMeansBothServersListen() throws {
        let library = try VaporPluginLibrary.path()
        let (portA, portB) = try FreePorts.two()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(portA)", "--set", "b.port=\(portB)",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        let answerA = HTTPClient.get(port: portA, path: "/")
        let answerB = HTTPClient.get(port: portB, path: "/")
        XCTAssertEqual(answerA.status, 200, "\(answerA)\n\(host.transcript)")
        XCTAssertEqual(answerA.body, "a", "\(answerA)")
        XCTAssertEqual(answerB.status, 200, "\(answerB)\n\(host.transcript)")
        XCTAssertEqual(answerB.body, "b", "\(answerB)")
        // Ordered start: a listens and is ready before b's server starts.
        let startedA = try XCTUnwrap(host.index(of: "Server started on http://127.0.0.1:\(portA)"), host.transcript)
        let readyA = try XCTUnwrap(host.index(of: "plugin a ready in"), host.transcript)
        let startedB = try XCTUnwrap(host.index(of: "Server started on http://127.0.0.1:\(portB)"), host.transcript)
        let readyB = try XCTUnwrap(host.index(of: "plugin b ready in"), host.transcript)
        let readyAll = try XCTUnwrap(host.index(of: "ready: 2 plugins running"), host.transcript)
        XCTAssertLessThan(startedA, readyA, host.transcript)
        XCTAssertLessThan(readyA, startedB, host.transcript)
        XCTAssertLessThan(startedB, readyB, host.transcript)
        XCTAssertLessThan(readyB, readyAll, host.transcript)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
    }

    /// During `--drain-delay`, everything still serves but `context.isDraining` is true:
    /// `/readyz` answers 503 while `/` and `/livez` answer 200; then the usual teardown, exit 0.
    func testReadyzAnswers503WhileTheHostDrains() throws {
        let library = try VaporPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([library, "--set", "vapor.port=\(port)", "--drain-delay", "3"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        XCTAssertEqual(HTTPClient.get(port: port, path: "/readyz").status, 200, host.transcript)
        host.send(SIGTERM)
        try host.waitForLine(containing: "draining for", within: .seconds(10))
        let ready = HTTPClient.get(port: port, path: "/readyz")
        XCTAssertEqual(ready.status, 503, "\(ready)\n\(host.transcript)")
        XCTAssertEqual(ready.body, "draining", "\(ready)")
        XCTAssertEqual(HTTPClient.get(port: port, path: "/livez").status, 200, host.transcript)
        XCTAssertEqual(HTTPClient.get(port: port, path: "/").status, 200, host.transcript)
        XCTAssertNil(host.index(of: "stopped plugin vapor"), "the delay ended before the checks:\n\(host.transcript)")
        try host.expectExit(0, within: .seconds(30))
    }

    /// A port already in use: b's bind fails in the shield, which shuts b's application down and
    /// throws, so b fails to start (69); a, already running, is torn down. b's
    /// `beginGracefulShutdown` still runs in its teardown and touches no server: no assertion,
    /// no crash.
    func testFailedBindFailsTheStartWithoutTouchingTheServer() throws {
        let library = try VaporPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(port)", "--set", "b.port=\(port)",
        ])
        try host.expectExit(69, within: .seconds(60))
        let failed = try XCTUnwrap(host.lines(containing: "plugin b failed to start").first, host.transcript)
        XCTAssertTrue(failed.contains("Address already in use"), failed)
        XCTAssertNotNil(host.index(of: "stopped plugin b"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin a"), host.transcript)
        XCTAssertNil(host.index(of: "Assertion failed"), host.transcript)
        XCTAssertNil(host.index(of: "ready: 2 plugins running"), host.transcript)
    }

    /// A missing or malformed port rejects the plugin at load: exit 65.
    func testBadPortRejectsThePluginAtLoad() throws {
        let library = try VaporPluginLibrary.path()
        for arguments in [[library], [library, "--set", "vapor.port=abc"]] {
            let host = try ChildProcess.host(arguments)
            try host.expectExit(65, within: .seconds(30))
            XCTAssertNotNil(host.index(of: "port"), host.transcript)
            XCTAssertNil(host.index(of: "ready:"), host.transcript)
        }
    }

    /// Vapor's `Application.make` loads `.env` from the host's working directory into the
    /// process environment; the plugin names the file in a warning before it happens.
    func testDotEnvInTheWorkingDirectoryIsNamed() throws {
        let library = try VaporPluginLibrary.path()
        let port = try FreePorts.one()
        let folder = try Scratch.folder(for: self)
        try "AIORUN_VAPOR_TEST=1\n".write(to: folder.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let host = try ChildProcess(Products.host, [library, "--set", "vapor.port=\(port)"], directory: folder)
        let warning = try host.waitForLine(containing: "into the process environment", within: .seconds(60))
        XCTAssertTrue(warning.text.contains("[vapor]"), warning.text)
        XCTAssertTrue(warning.text.contains("\(folder.lastPathComponent)/.env"), warning.text)
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(60))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
    }
}

// MARK: - Building the example

/// examples/VaporPlugin, built once per test run (the first test that needs it builds it).
private enum VaporPluginLibrary {
    // A fresh clone (CI) builds Vapor and its dependencies from scratch: minutes on 2 cores.
    private static let built = ExampleBuild.build(
        "examples/VaporPlugin",
        library: "libvapor.so",
        within: .seconds(30 * 60)
    )

    /// The path of libvapor.so; builds it on first use. Fails the calling test if the build failed.
    static func path(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try ExampleBuild.path(of: built, "examples/VaporPlugin", file: file, line: line)
    }
}
