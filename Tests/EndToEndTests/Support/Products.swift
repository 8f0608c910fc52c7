import Foundation

/// Where the package's built products are: beside this test bundle.
enum Products {
    /// The build folder holding aiorun-host, the plugin .so files and the test bundle.
    static let folder: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = exe.deletingLastPathComponent()
        // The XCTest runner may be the bundle itself or live inside it.
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("aiorun-host").path),
            folder.path != "/"
        {
            folder = folder.deletingLastPathComponent()
        }
        return folder
    }()

    /// The repository root (the folder holding Package.swift).
    static let repositoryRoot: URL = {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path)
            || folder.lastPathComponent == "AioRunPluginAPI"
        {
            folder = folder.deletingLastPathComponent()
        }
        return folder
    }()

    static var host: URL { folder.appendingPathComponent("aiorun-host") }
    static var seedExample: URL { folder.appendingPathComponent("seed-example") }

    /// The path of in-tree plugin `name`'s library.
    static func plugin(_ name: String) -> String {
        folder.appendingPathComponent("lib\(name).so").path
    }
}

/// Starting the host with the environment the tests expect.
extension ChildProcess {
    /// Starts `aiorun-host` with `arguments`.
    static func host(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(Products.host, arguments, environment: environment)
    }
}

/// Short-lived scratch folders and C fixtures built by the tests.
enum Scratch {
    /// A new empty folder under the system's temporary folder.
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
