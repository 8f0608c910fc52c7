import Foundation
import XCTest

/// Every plugin is checked before anything runs (README, "Failure modes"). A rejected plugin gives
/// one line with the path, the step and the reason, exit 65, and no plugin's run() is entered —
/// even when the bad plugin is last on the line. Bad options exit 64.
final class LoadingEndToEndTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder(for: self)
    }

    /// Runs `hello <bad>` and checks the rejection; returns the error line.
    @discardableResult
    func assertRejected(
        _ bad: String,
        step: String,
        reason: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> String {
        let host = try ChildProcess.host([Products.plugin("hello"), bad])
        let exit = try host.waitForExit(within: .seconds(30), file: file, line: line)
        XCTAssertEqual(exit.code, 65, host.transcript, file: file, line: line)
        let errors = host.lines(containing: "aiorun-host: error:")
        XCTAssertEqual(errors.count, 1, host.transcript, file: file, line: line)
        let message = errors.first ?? ""
        XCTAssertTrue(
            message.contains(bad) || message.contains(URL(fileURLWithPath: bad).lastPathComponent),
            message,
            file: file,
            line: line
        )
        XCTAssertTrue(message.contains(": \(step): "), "step \(step) missing: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(reason), "reason \(reason) missing: \(message)", file: file, line: line)
        XCTAssertNil(host.index(of: "ready:"), host.transcript, file: file, line: line)
        XCTAssertNil(
            host.index(of: "hello from hello"),
            "hello's run() was entered:\n\(host.transcript)",
            file: file,
            line: line
        )
        return message
    }

    func testMissingFileIsRejected() throws {
        try assertRejected(
            scratch.appendingPathComponent("nope.so").path,
            step: "resolve",
            reason: "No such file or directory"
        )
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

    func testEmptyFileIsRejected() throws {
        let empty = scratch.appendingPathComponent("libempty.so")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        try assertRejected(empty.path, step: "check file", reason: "is an empty file")
    }

    /// An ELF header with the given class (1 = 32-bit, 2 = 64-bit) and machine, padded to 64 bytes.
    func elfHeader(class elfClass: UInt8, machine: UInt16) -> Data {
        var bytes: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, elfClass, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        bytes += [3, 0]  // e_type: ET_DYN
        bytes += [UInt8(machine & 0xff), UInt8(machine >> 8)]
        bytes += [UInt8](repeating: 0, count: 64 - bytes.count)
        return Data(bytes)
    }

    func test32BitELFIsRejected() throws {
        let library = scratch.appendingPathComponent("lib32.so")
        XCTAssertTrue(FileManager.default.createFile(atPath: library.path, contents: elfHeader(class: 1, machine: 3)))
        try assertRejected(library.path, step: "check file", reason: "is a 32-bit ELF, this host is 64-bit")
    }

    /// dlopen would say "No such file" here; the header says what is really wrong.
    func testELFForAnotherMachineIsRejectedByName() throws {
        let library = scratch.appendingPathComponent("libarm.so")
        XCTAssertTrue(FileManager.default.createFile(atPath: library.path, contents: elfHeader(class: 2, machine: 183)))
        try assertRejected(library.path, step: "check file", reason: "built for aarch64, this host is x86_64")
    }

    func testUndefinedSymbolFailsAtLoadTimeAndIsDemangled() throws {
        let plain = try Scratch.cLibrary(
            "libundefined.so",
            source: """
                extern void missing_function(void);
                void *aiorun_plugin_entry(unsigned host, unsigned *plugin) { missing_function(); return 0; }
                """,
            in: scratch
        )
        try assertRejected(plain, step: "dlopen", reason: "undefined symbol: missing_function")
        let swift = try Scratch.cLibrary(
            "libswiftundefined.so",
            source: """
                extern void $s4Demo5helloyyF(void);
                void *aiorun_plugin_entry(unsigned host, unsigned *plugin) { $s4Demo5helloyyF(); return 0; }
                """,
            in: scratch
        )
        try assertRejected(swift, step: "dlopen", reason: "$s4Demo5helloyyF (Demo.hello() -> ())")
    }

    /// A library whose section header table points outside the file is refused by the file check
    /// (a truncated file looks exactly like this), cleanly, never by a crash while reading it.
    func testCorruptSectionHeadersAreRejectedCleanly() throws {
        let library = try Scratch.cLibrary(
            "libcorrupt.so",
            source: "int not_a_plugin(void) { return 1; }\n",
            in: scratch
        )
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: library))
        try handle.seek(toOffset: 0x28)  // e_shoff
        handle.write(Data([0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))
        try handle.close()
        try assertRejected(library, step: "check file", reason: "the section header table lies outside the file")
    }

    func testMissingEntryListsLookalikeExports() throws {
        let library = try Scratch.cLibrary(
            "libmisnamed.so",
            source: """
                void *aiorun_plugin_entry_v2(unsigned host, unsigned *plugin) { return 0; }
                """,
            in: scratch
        )
        try assertRejected(
            library,
            step: "entry symbol",
            reason: "exports that look like entries: aiorun_plugin_entry_v2"
        )
    }

    func testCLibraryWithoutEntrySymbolIsRejected() throws {
        let library = try Scratch.cLibrary(
            "libnoentry.so",
            source: "int not_a_plugin(void) { return 1; }\n",
            in: scratch
        )
        try assertRejected(library, step: "entry symbol", reason: "no aiorun_plugin_entry symbol")
    }

    func testABIMismatchNamesBothNumbers() throws {
        let library = try Scratch.cLibrary(
            "libabi999.so",
            source: """
                #include <stdint.h>
                #include <stddef.h>
                void *aiorun_plugin_entry(uint32_t host_abi, uint32_t *plugin_abi) { *plugin_abi = 999; return NULL; }
                """,
            in: scratch
        )
        try assertRejected(library, step: "handshake", reason: "plugin built against ABI 999, host provides 2")
    }

    func testOlderAndSilentPluginABIAreRejected() throws {
        let newer = try Scratch.cLibrary(
            "libabi1.so",
            source: """
                void *aiorun_plugin_entry(unsigned host, unsigned *plugin) { *plugin = 1; return (void *)0; }
                """,
            in: scratch
        )
        try assertRejected(newer, step: "handshake", reason: "plugin built against ABI 1, host provides 2")
        let silent = try Scratch.cLibrary(
            "libabi0.so",
            source: """
                void *aiorun_plugin_entry(unsigned host, unsigned *plugin) { return (void *)0; }
                """,
            in: scratch
        )
        try assertRejected(silent, step: "handshake", reason: "plugin did not report its ABI number, host provides 2")
    }

    func testEntryReturningNullWithMatchingABIIsRejected() throws {
        let library = try Scratch.cLibrary(
            "libnull.so",
            source: """
                #include <stdint.h>
                #include <stddef.h>
                void *aiorun_plugin_entry(uint32_t host_abi, uint32_t *plugin_abi) { *plugin_abi = host_abi; return NULL; }
                """,
            in: scratch
        )
        try assertRejected(library, step: "handshake", reason: "returned NULL")
    }

    func testDuplicateNameIsRejected() throws {
        try assertRejected(Products.plugin("hello"), step: "name", reason: "a plugin named hello is already loaded")
    }

    func testInvalidPluginNameIsRejected() throws {
        let host = try ChildProcess.host(
            [Products.plugin("hello"), Products.plugin("faulty")],
            environment: ["AIORUN_FAULTY_NAME": "Bad Name"]
        )
        try host.expectExit(65, within: .seconds(30))
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(message.contains("libfaulty.so: name: \"Bad Name\" is not a valid plugin name"), message)
    }

    /// The descriptor is created by the plugin and cast with `as?` in the host; the host only
    /// logs "loaded plugin" after that cast succeeded, which needs one copy of the API metadata.
    func testDescriptorCreatedInPluginCastsInHost() throws {
        let host = try ChildProcess.host([Products.plugin("hello")])
        let loaded = try host.waitForLine(containing: "loaded plugin hello from", within: .seconds(30))
        XCTAssertTrue(loaded.text.contains("(ABI 2, API 2.2.0)"), loaded.text)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
    }

    func testThrowingInitializerIsRejected() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), Products.plugin("faulty"), "--set", "faulty.mode=init-throws",
        ])
        try host.expectExit(65, within: .seconds(30))
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(
            message.contains("libfaulty.so: create: ") && message.contains("faulty refuses to start"),
            message
        )
        XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
    }

    /// Plugin files that others could replace are refused, as OpenSSH's StrictModes does, unless
    /// --allow-insecure-plugins is given.
    func testInsecurePluginFilesAreRefusedUnlessAllowed() throws {
        let folder = scratch.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let library = folder.appendingPathComponent("libhello.so")
        try FileManager.default.copyItem(atPath: Products.plugin("hello"), toPath: library.path)
        func permissions(file: Int, folder folderMode: Int, owner: UInt32 = 0) throws {
            try FileManager.default.setAttributes([.posixPermissions: file], ofItemAtPath: library.path)
            try FileManager.default.setAttributes([.posixPermissions: folderMode], ofItemAtPath: folder.path)
            XCTAssertEqual(chown(library.path, owner, 0), 0)
        }
        func assertRefused(_ reason: String) throws {
            let host = try ChildProcess.host([library.path])
            try host.expectExit(65, within: .seconds(30))
            XCTAssertTrue(host.transcript.contains(": check file: \(reason)"), host.transcript)
            XCTAssertTrue(host.transcript.contains("--allow-insecure-plugins"), host.transcript)
            XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
        }
        try permissions(file: 0o664, folder: 0o755)
        try assertRefused("the file is writable by group or others (mode 0664)")
        try permissions(file: 0o755, folder: 0o777)
        try assertRefused("its folder \(folder.path) is writable by group or others (mode 0777)")
        if geteuid() == 0 {
            try permissions(file: 0o755, folder: 0o755, owner: 65534)
            try assertRefused("the file is owned by")
        }
        // With the flag, the same insecure file loads and runs.
        try permissions(file: 0o666, folder: 0o777, owner: geteuid())
        let host = try ChildProcess.host(["--allow-insecure-plugins", library.path])
        try host.waitForLine(containing: "hello from hello", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
    }

    /// A stray libAioRunPluginAPI.so found first through LD_LIBRARY_PATH is caught by the host's
    /// start-up self-check, which asks the loaded library through a C symbol.
    func testWrongAPILibraryOnLibraryPathIsCaughtBySelfCheck() throws {
        let copy = scratch.appendingPathComponent("StrayAPI")
        try FileManager.default.copyItem(
            at: Products.repositoryRoot.appendingPathComponent("Sources/AioRunPluginAPI"),
            to: copy
        )
        try? FileManager.default.removeItem(at: copy.appendingPathComponent(".build"))
        let abiFile = copy.appendingPathComponent("ABI.swift")
        let source = try String(contentsOf: abiFile, encoding: .utf8)
        let stray = source.replacingOccurrences(
            of: "public func aiorunLoadedAPIABI() -> UInt32 {\n    2\n}",
            with: "public func aiorunLoadedAPIABI() -> UInt32 {\n    3\n}"
        )
        XCTAssertNotEqual(source, stray, "the ABI function's body changed shape; update this test")
        try stray.write(to: abiFile, atomically: true, encoding: .utf8)
        let build = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["swift", "build", "--package-path", copy.path, "--product", "AioRunPluginAPI"]
        )
        try build.expectExit(0, within: .seconds(1200))
        let folder = copy.appendingPathComponent(".build/debug").resolvingSymlinksInPath().path
        let host = try ChildProcess.host([Products.plugin("hello")], environment: ["LD_LIBRARY_PATH": folder])
        try host.expectExit(65, within: .seconds(30))
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(
            message.contains(
                "API self-check: the loaded libAioRunPluginAPI.so provides ABI 3, this host was built with ABI 2"
            ),
            message
        )
        XCTAssertTrue(message.contains(folder), message)
        XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
    }

    func testBareNameIsFoundAlongPluginPathThenBesideHost() throws {
        // Beside the host binary: the in-tree plugins are there.
        let host = try ChildProcess.host(["hello"], environment: ["AIORUN_PLUGIN_PATH": scratch.path])
        try host.waitForLine(containing: "hello from hello", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
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
            (
                ["--memory-limit", "hello=64M", Products.plugin("hello")],
                "--memory-limit hello=64M: plugin hello is not isolated (limits need --isolate or isolate = true)"
            ),
            (["--memory-limit", "1P", "--isolate", Products.plugin("hello")], "--memory-limit 1P: expected a size"),
            ([], "no plugin given"),
        ]
        for (arguments, expected) in cases {
            let host = try ChildProcess.host(arguments)
            let exit = try host.waitForExit(within: .seconds(30))
            XCTAssertEqual(exit.code, 64, "\(arguments): \(host.transcript)")
            XCTAssertTrue(
                host.transcript.contains(expected),
                "\(arguments): expected \(expected) in \(host.transcript)"
            )
            XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
        }
    }
}
