import Foundation
import XCTest

/// The examples build and behave as their READMEs say.
final class ExamplesEndToEndTests: XCTestCase {
    /// The in-process seed program (`run {}` + `shutdownWaitsFor`): Ctrl-C prints `oh noes!` at
    /// once, `done!` when the 2 s shielded sleep ends, then exits 0.
    func testInProcessSeedExample() throws {
        let program = try ChildProcess(Products.seedExample, ["2"])
        try program.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        let signalled = ContinuousClock.now
        program.send(SIGINT)
        let ohNoes = try program.waitForLine(containing: "oh noes!", within: .seconds(5))
        XCTAssertLessThan(ohNoes.at - signalled, .milliseconds(300))
        let done = try program.waitForLine(containing: "done!", within: .seconds(10))
        XCTAssertGreaterThan(done.at - program.started, .milliseconds(1900))
        try program.expectExit(0, within: .seconds(10))
    }

    /// The out-of-tree plugin package builds against Sources/AioRunPluginAPI by path, and its
    /// .so loads and runs in the host built from the root package.
    func testOutOfTreePluginBuildsAndRunsInHost() throws {
        let package = Products.repositoryRoot.appendingPathComponent("examples/OutOfTreePlugin")
        let build = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["swift", "build", "--package-path", package.path]
        )
        let built = try build.waitForExit(within: .seconds(1200))
        XCTAssertEqual(built.code, 0, build.transcript)
        let library = package.appendingPathComponent(".build/debug/libgreeter.so").path
        let host = try ChildProcess.host([library, "--set", "greeter.interval-ms=100"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        let greeting = try host.waitForLine(containing: "greeting 2", within: .seconds(10))
        XCTAssertTrue(greeting.text.contains("[greeter]"), greeting.text)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        XCTAssertNotNil(host.index(of: "farewell from greeter"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin greeter"), host.transcript)
    }
}
