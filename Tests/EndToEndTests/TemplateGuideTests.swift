import Foundation
import XCTest

/// README's "From nothing to a running plugin" runs as written: the test takes the shell block
/// from README.md and runs its lines with bash (the last one with `exec`, so the host itself
/// receives the signal) in a fresh copy of the repository, as a new author would have it (and
/// because this `swift test` holds the lock of the repository's own `.build`). It waits for the
/// plugin to run, sends SIGTERM and checks the exit code.
final class TemplateGuideTests: XCTestCase {
    func guideLines() throws -> [String] {
        let readme = try String(
            contentsOf: Products.repositoryRoot.appendingPathComponent("README.md"),
            encoding: .utf8
        )
        let section = try XCTUnwrap(
            readme.components(separatedBy: "### From nothing to a running plugin").dropFirst().first
        )
        let block = try XCTUnwrap(
            section.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first
        )
        return block.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    func testReadmeGuideBuildsAndRunsANewPlugin() throws {
        var lines = try guideLines()
        XCTAssertGreaterThanOrEqual(lines.count, 5)
        let last = lines.removeLast()
        let checkout = try Scratch.folder()
        defer { try? FileManager.default.removeItem(at: checkout) }
        let copy = try ChildProcess(
            URL(fileURLWithPath: "/bin/bash"),
            [
                "-c", "tar --exclude='.build*' --exclude='Package.resolved' -cf - . | tar -xf - -C '\(checkout.path)'",
            ],
            directory: Products.repositoryRoot
        )
        try copy.expectExit(0, within: .seconds(120))
        let script = (["set -e"] + lines + ["exec \(last)"]).joined(separator: "\n")
        let guide = try ChildProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", script], directory: checkout)
        // The script builds the host and the plugin first: minutes on a 2-core machine.
        try guide.waitForLine(containing: "ready: 1 plugins running", within: .seconds(1800))
        let greeting = try guide.waitForLine(containing: "greeting 2", within: .seconds(10))
        XCTAssertTrue(greeting.text.contains("[my-plugin]"), greeting.text)
        try guide.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        XCTAssertNotNil(guide.index(of: "stopped plugin my-plugin"), guide.transcript)
    }
}
