import Foundation
import XCTest

/// Issue 17, part 1: records that a plugin logs outside its own tasks (NIO's event loops, a
/// thread of its own) carry the right alias when the plugin logs through a handler bound to its
/// instance (`AioRunLogBridge.logger(label:sink:minimumLevel:)`; README, "Logging through your
/// own swift-log: the bridge"). The fixture `thread-log` (Tests/Fixtures/ThreadLog) logs from a
/// plain POSIX thread, where `PluginContext.current` is nil. Every wait is bounded.
final class LogAttributionEndToEndTests: XCTestCase {
    /// Two aliases, each logging 50 lines from a plain thread through its per-instance logger:
    /// every line of `a` is named `[a]` and every line of `b` `[b]`.
    func testPerInstanceLoggerNamesTheAliasOnAPlainThread() throws {
        let host = try startTwoAliases(logger: "instance")
        let linesA = host.lines(containing: "thread line").filter { $0.hasSuffix(" of a") }
        let linesB = host.lines(containing: "thread line").filter { $0.hasSuffix(" of b") }
        XCTAssertEqual(linesA.count, 50, host.transcript)
        XCTAssertEqual(linesB.count, 50, host.transcript)
        let wrongA = linesA.filter { !$0.contains("[a] ") }
        let wrongB = linesB.filter { !$0.contains("[b] ") }
        XCTAssertTrue(wrongA.isEmpty, "lines of a not named [a]:\n\(wrongA.joined(separator: "\n"))")
        XCTAssertTrue(wrongB.isEmpty, "lines of b not named [b]:\n\(wrongB.joined(separator: "\n"))")
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
    }

    /// What the per-instance logger is for: a `Logger(label:)` made through the bridge's global
    /// bootstrap keeps the first instance's sink, so on a plain thread (no plugin task to tell
    /// the aliases apart) `b`'s lines are named `[a]`. This is the failure of issue 17 that the
    /// test above guards against; it changes only if the runtime learns to attribute such
    /// records otherwise.
    func testGlobalLoggerOnAPlainThreadIsNamedAfterTheFirstInstance() throws {
        let host = try startTwoAliases(logger: "global")
        let linesB = host.lines(containing: "thread line").filter { $0.hasSuffix(" of b") }
        XCTAssertEqual(linesB.count, 50, host.transcript)
        XCTAssertTrue(linesB.allSatisfy { $0.contains("[a] ") }, host.transcript)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
    }

    /// Starts `a=libthread-log.so b=libthread-log.so` with `logger` and waits until both threads
    /// have logged their last line.
    private func startTwoAliases(logger: String) throws -> ChildProcess {
        let library = Products.plugin("thread-log")
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)",
            "--set", "a.logger=\(logger)", "--set", "b.logger=\(logger)",
            "--set", "a.count=50", "--set", "b.count=50",
        ])
        try host.waitForLine(containing: "thread done of a", within: .seconds(30))
        try host.waitForLine(containing: "thread done of b", within: .seconds(30))
        return host
    }
}
