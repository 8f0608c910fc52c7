// swift-tools-version:6.1
// The plugin contract. It is its own package so that every plugin and the host share ONE
// dynamically linked copy of its type metadata (see DESIGN §1 and README "Why the API is a package").
import PackageDescription

let package = Package(
    name: "AioRunPluginAPI",
    products: [
        // The contract itself: links nothing but the Swift toolchain's own shared libraries.
        .library(name: "AioRunPluginAPI", type: .dynamic, targets: ["AioRunPluginAPI"]),
        // A static swift-log bridge that each plugin links against its OWN swift-log.
        .library(name: "AioRunLogBridge", type: .static, targets: ["AioRunLogBridge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "AioRunPluginAPI",
            path: ".",
            exclude: ["LogBridge", "Package.swift"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "AioRunLogBridge",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "LogBridge",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
