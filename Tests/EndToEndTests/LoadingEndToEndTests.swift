import Foundation
import XCTest

/// DESIGN §3: every plugin is checked before anything runs. A rejected plugin gives one line with
/// the path, the step and the reason, exit 65, and no plugin's run() is entered — even when the
/// bad plugin is last on the line. Bad options exit 64.
final class LoadingEndToEndTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Runs `hello <bad>` and checks the rejection; returns the error line.
    @discardableResult
    func assertRejected(
        _ bad: String, step: String, reason: String, file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        let host = try ChildProcess.host([Products.plugin("hello"), bad])
        let exit = try host.waitForExit(within: .seconds(30), file: file, line: line)
        XCTAssertEqual(exit.code, 65, host.transcript, file: file, line: line)
        let errors = host.lines(containing: "aiorun-host: error:")
        XCTAssertEqual(errors.count, 1, host.transcript, file: file, line: line)
        let message = errors.first ?? ""
        XCTAssertTrue(message.contains(bad) || message.contains(URL(fileURLWithPath: bad).lastPathComponent), message, file: file, line: line)
        XCTAssertTrue(message.contains(": \(step): "), "step \(step) missing: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(reason), "reason \(reason) missing: \(message)", file: file, line: line)
        XCTAssertNil(host.index(of: "ready:"), host.transcript, file: file, line: line)
        XCTAssertNil(host.index(of: "hello from hello"), "hello's run() was entered:\n\(host.transcript)", file: file, line: line)
        return message
    }

    func testMissingFileIsRejected() throws {
        try assertRejected(scratch.appendingPathComponent("nope.so").path, step: "resolve", reason: "No such file or directory")
    }

    func testDirectoryIsRejected() throws {
        let folder = scratch.appendingPathComponent("plugin.so")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try assertRejected(folder.path, step: "check file", reason: "is a directory")
    }

    func testTextFileIsRejected() throws {
        let text = scratch.appendingPathComponent("notes.so")
        try "just some text\n".write(to: text, atomically: true, encoding: .utf8)
        try assertRejected(text.path, step: "check file", reason: "is not an ELF file")
    }

    func testCLibraryWithoutEntrySymbolIsRejected() throws {
        let library = try Scratch.cLibrary("libnoentry.so", source: "int not_a_plugin(void) { return 1; }\n", in: scratch)
        try assertRejected(library, step: "entry symbol", reason: "no aiorun_plugin_entry symbol")
    }

    func testABIMismatchNamesBothNumbers() throws {
        let library = try Scratch.cLibrary("libabi999.so", source: """
            #include <stdint.h>
            #include <stddef.h>
            void *aiorun_plugin_entry(uint32_t host_abi, uint32_t *plugin_abi) { *plugin_abi = 999; return NULL; }
            """, in: scratch)
        try assertRejected(library, step: "handshake", reason: "plugin built against ABI 999, host provides 1")
    }

    func testEntryReturningNullWithMatchingABIIsRejected() throws {
        let library = try Scratch.cLibrary("libnull.so", source: """
            #include <stdint.h>
            #include <stddef.h>
            void *aiorun_plugin_entry(uint32_t host_abi, uint32_t *plugin_abi) { *plugin_abi = host_abi; return NULL; }
            """, in: scratch)
        try assertRejected(library, step: "handshake", reason: "returned NULL")
    }

    func testDuplicateNameIsRejected() throws {
        try assertRejected(Products.plugin("hello"), step: "name", reason: "a plugin named hello is already loaded")
    }

    func testInvalidPluginNameIsRejected() throws {
        let host = try ChildProcess.host([Products.plugin("hello"), Products.plugin("faulty")], environment: ["AIORUN_FAULTY_NAME": "Bad Name"])
        XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 65, host.transcript)
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(message.contains("libfaulty.so: name: \"Bad Name\" is not a valid plugin name"), message)
    }

    /// The descriptor is created by the plugin and cast with `as?` in the host; the host only
    /// logs "loaded plugin" after that cast succeeded, which needs one copy of the API metadata.
    func testDescriptorCreatedInPluginCastsInHost() throws {
        let host = try ChildProcess.host([Products.plugin("hello")])
        let loaded = try host.waitForLine(containing: "loaded plugin hello from", within: .seconds(30))
        XCTAssertTrue(loaded.text.contains("(ABI 1, API 1.0.0)"), loaded.text)
        host.send(SIGTERM)
        XCTAssertEqual(try host.waitForExit(within: .seconds(10)).code, 0, host.transcript)
    }

    func testThrowingInitializerIsRejected() throws {
        let host = try ChildProcess.host([Products.plugin("hello"), Products.plugin("faulty"), "--set", "faulty.mode=init-throws"])
        XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 65, host.transcript)
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(message.contains("libfaulty.so: create: ") && message.contains("faulty refuses to start"), message)
        XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
    }

    func testBareNameIsFoundAlongPluginPathThenBesideHost() throws {
        // Beside the host binary: the in-tree plugins are there.
        let host = try ChildProcess.host(["hello"], environment: ["AIORUN_PLUGIN_PATH": scratch.path])
        try host.waitForLine(containing: "hello from hello", within: .seconds(30))
        host.send(SIGTERM)
        XCTAssertEqual(try host.waitForExit(within: .seconds(10)).code, 0, host.transcript)
        // A bare name that exists nowhere names the search path.
        let missing = try ChildProcess.host(["nosuchplugin"], environment: ["AIORUN_PLUGIN_PATH": scratch.path])
        XCTAssertEqual(try missing.waitForExit(within: .seconds(30)).code, 65)
        XCTAssertTrue(missing.transcript.contains("no libnosuchplugin.so in AIORUN_PLUGIN_PATH"), missing.transcript)
        XCTAssertTrue(missing.transcript.contains(scratch.path), missing.transcript)
    }

    /// Bad options and values exit 64 with a message naming the option.
    func testBadOptionsExitUsage() throws {
        let cases: [([String], String)] = [
            (["--task-shutdown-timeout", "-1", Products.plugin("hello")], "--task-shutdown-timeout"),
            (["--task-shutdown-timeout", "soon", Products.plugin("hello")], "task-shutdown-timeout"),
            (["--executor-workers", "0", Products.plugin("hello")], "--executor-workers"),
            (["--set", "hello", Products.plugin("hello")], "--set hello"),
            (["--set", "greeting=hi", Products.plugin("hello")], "no plugin name"),
            (["--set", "nosuch.key=1", Products.plugin("hello")], "no plugin named nosuch"),
            (["--log-level", "loud", Products.plugin("hello")], "--log-level"),
            ([], "no plugin given"),
        ]
        for (arguments, expected) in cases {
            let host = try ChildProcess.host(arguments)
            let exit = try host.waitForExit(within: .seconds(30))
            XCTAssertEqual(exit.code, 64, "\(arguments): \(host.transcript)")
            XCTAssertTrue(host.transcript.contains(expected), "\(arguments): expected \(expected) in \(host.transcript)")
            XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
        }
    }
}
