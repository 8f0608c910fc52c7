import Foundation
import XCTest

/// Short-lived scratch folders and C fixtures built by the tests.
enum Scratch {
    /// A new empty folder under the system's temporary folder, removed when `test` ends (call it
    /// from `setUpWithError` or from the test itself; no `tearDown` or `defer` needed).
    static func folder(for test: XCTestCase) throws -> URL {
        let url = try folder()
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A new empty folder under the system's temporary folder; the caller removes it.
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aiorun-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A C library `name` in `folder` whose constructor runs `body` (with stdio, stdlib and unistd
    /// included), and whose `aiorun_plugin_entry` returns NULL without reporting an ABI: refused
    /// at the handshake once it has loaded.
    static func constructorLibrary(_ name: String, _ body: String, in folder: URL) throws -> String {
        try cLibrary(
            name,
            source: """
                #include <stdio.h>
                #include <stdlib.h>
                #include <unistd.h>
                __attribute__((constructor)) static void misbehave(void) { \(body) }
                void *aiorun_plugin_entry(unsigned abi, unsigned *plugin) { return 0; }
                """,
            in: folder
        )
    }

    /// Compiles C `source` into a shared library `name` in `folder` with the system's `cc`.
    static func cLibrary(_ name: String, source: String, in folder: URL) throws -> String {
        let sourceURL = folder.appendingPathComponent("\(name).c")
        try source.write(to: sourceURL, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent(name).path
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-shared", "-fPIC", "-o", output, sourceURL.path]
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else { throw HostTestError.buildFailed("cc failed for \(name)") }
        return output
    }
}
