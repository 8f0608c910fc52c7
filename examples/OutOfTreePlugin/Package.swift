// swift-tools-version:6.1
// An out-of-tree AioRun plugin: copy this directory to start your own (see README.md).
import PackageDescription

let package = Package(
    name: "GreeterPlugin",
    products: [
        // A dynamic library product: the host loads .build/<config>/libgreeter.so.
        .library(name: "greeter", type: .dynamic, targets: ["GreeterPlugin"])
    ],
    dependencies: [
        // The plugin contract, by path. Depending on the API as a *product of another package* is
        // what makes SwiftPM link it as the shared libAioRunPluginAPI.so instead of copying it into
        // this library, so the process holds ONE copy of its type metadata, shared with the host
        // (README, "Why the API is its own package"). Vendoring the API sources as a target of this package would break `as?`
        // casts, TaskLocals and globals between host and plugin.
        .package(path: "../../Sources/AioRunPluginAPI"),
        // The plugin's own swift-log; AioRunLogBridge routes it to the host's log handler.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "GreeterPlugin",
            dependencies: [
                .product(name: "AioRunPluginAPI", package: "AioRunPluginAPI"),
                .product(name: "AioRunLogBridge", package: "AioRunPluginAPI"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
