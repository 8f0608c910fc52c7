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
    static var inProcessTwin: URL { folder.appendingPathComponent("InProcessTwin") }
    static var runnerProbe: URL { folder.appendingPathComponent("RunnerProbe") }

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
