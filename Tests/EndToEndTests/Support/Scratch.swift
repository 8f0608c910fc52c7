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
