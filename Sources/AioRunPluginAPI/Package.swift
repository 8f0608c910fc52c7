// swift-tools-version:6.1
// The plugin contract. It is its own package so that every plugin and the host share ONE
// dynamically linked copy of its type metadata (see README "Writing a plugin", "Building").
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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2")
    ],
    targets: [
        .target(
            name: "AioRunPluginAPI",
            path: ".",
            exclude: ["LogBridge", "Package.swift"],
            // Library evolution (resilient types): a plugin built against an older API version of
            // the same ABI keeps working when a later version adds methods, stored properties or
            // protocol requirements with defaults (see README "Writing a plugin", "How the API
            // evolves"). An unsafe flag: SwiftPM accepts it here because plugins depend on this
            // package by path (and since Swift 6.2 also in versioned dependencies).
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-enable-library-evolution"])]
        ),
        .target(
            name: "AioRunLogBridge",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "LogBridge",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
