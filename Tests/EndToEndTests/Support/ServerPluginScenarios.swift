import Foundation
import XCTest

/// What every server example must pass (README, "Writing a server plugin"), shared by the
/// Hummingbird and Vapor tests: two aliases answering as themselves, and the drain, with a 1 s
/// request in flight on each alias at SIGTERM. b (loaded last) drains first: it refuses new connections at once
/// while its request runs on and a still serves; both requests end with 200, both ports are
/// closed after the exit, which is 0, and b stopped before a, each `[ok]`.
extension XCTestCase {
    /// Runs the scenario against `library` and returns the finished host for further checks.
    /// `requestLogged(port)` is the text of the example's request log line for `/slow` on `port`
    /// (once it is out, the request is inside its handler).
    @discardableResult
    func assertDrainWithRequestsInFlight(
        library: String,
        example: String,
        requestLogged: (Int) -> String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> ChildProcess {
        let (host, portA, portB) = try startTwoAliases(of: library)

        let slowB = InFlightRequest(port: portB, path: "/slow?ms=1000")
        let slowA = InFlightRequest(port: portA, path: "/slow?ms=1000")
        try host.waitForLine(containing: requestLogged(portB), within: .seconds(10))
        try host.waitForLine(containing: requestLogged(portA), within: .seconds(10))
        let signalled = ContinuousClock.now
        host.send(SIGTERM)

        // b drains first: its listener closes at once, while its slow request is still running.
        let refusedB = try waitUntilRefused(port: portB, within: .seconds(10), host: host)
        XCTAssertNil(slowB.finished, "b's slow request ended before b refused new connections", file: file, line: line)
        // a is untouched until b has stopped: it still answers.
        let duringDrain = HTTPClient.get(port: portA, path: "/")
        XCTAssertEqual(
            duringDrain.status,
            200,
            "a stopped serving during b's drain: \(duringDrain)\n\(host.transcript)",
            file: file,
            line: line
        )
        XCTAssertNil(slowB.finished, "b's slow request ended before the check of a", file: file, line: line)

        let resultB = try slowB.wait(within: .seconds(20))
        let resultA = try slowA.wait(within: .seconds(20))
        for result in [resultB, resultA] {
            XCTAssertEqual(
                result.response.status,
                200,
                "\(result.response)\n\(host.transcript)",
                file: file,
                line: line
            )
            XCTAssertEqual(result.response.body, "slow done", "\(result.response)", file: file, line: line)
        }
        XCTAssertGreaterThan(
            resultB.at,
            refusedB,
            "b refused only after its slow request ended",
            file: file,
            line: line
        )

        let exit = try host.expectExit(0, within: .seconds(30))
        print(
            "\(example) drain: b refused new connections \(refusedB - signalled) after SIGTERM; slow request done "
                + "\(resultB.at - signalled) after SIGTERM; host exited \(exit.at - signalled) after SIGTERM"
        )
        for port in [portA, portB] {
            let after = HTTPClient.get(port: port, path: "/")
            XCTAssertTrue(after.refused, "port \(port) still open after exit: \(after)", file: file, line: line)
        }
        // Reverse load order, each fully before the next.
        let stoppedB = try XCTUnwrap(host.index(of: "stopped plugin b"), host.transcript, file: file, line: line)
        let stoppedA = try XCTUnwrap(host.index(of: "stopped plugin a"), host.transcript, file: file, line: line)
        XCTAssertLessThan(stoppedB, stoppedA, host.transcript, file: file, line: line)
        XCTAssertTrue(
            host.lines(containing: "stopped plugin").allSatisfy { $0.contains("[ok]") },
            host.transcript,
            file: file,
            line: line
        )
        return host
    }

    /// Starts two aliases `a` and `b` of `library` on two free ports and waits until both serve.
    func startTwoAliases(of library: String) throws -> (host: ChildProcess, portA: Int, portB: Int) {
        let (portA, portB) = try FreePorts.two()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(portA)", "--set", "b.port=\(portB)",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(60))
        try waitUntilServing(port: portA, host: host)
        try waitUntilServing(port: portB, host: host)
        return (host, portA, portB)
    }

    /// Each alias answers `/` with its own name, `/livez` (any body) and `/readyz` with `ready`
    /// (the host counts each alias ready once it listens), every answer a complete 200.
    func assertAliasesAnswerAndAreReady(portA: Int, portB: Int, file: StaticString = #filePath, line: UInt = #line) {
        for (port, name) in [(portA, "a"), (portB, "b")] {
            for (path, body) in [("/", name), ("/livez", nil), ("/readyz", "ready")] {
                let answer = HTTPClient.get(port: port, path: path)
                XCTAssertTrue(
                    answer.isComplete200 && (body == nil || answer.body == body),
                    "\(path) of \(name): \(answer)",
                    file: file,
                    line: line
                )
            }
        }
    }
}
