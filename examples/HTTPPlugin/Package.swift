// swift-tools-version:6.1
// A server plugin for aiorun-host: a Hummingbird HTTP server that drains gracefully at shutdown.
// See README.md here and docs/server-plugins.md in the repository.
import PackageDescription

let package = Package(
    name: "HTTPPlugin",
    products: [
        // A dynamic library product: the host loads .build/<config>/libhttp.so.
        .library(name: "http", type: .dynamic, targets: ["HTTPPlugin"])
    ],
    dependencies: [
        // The plugin contract, by path, as a product of another package: linked as the shared
        // libAioRunPluginAPI.so that the host already mapped (README, "Why the API is its own package"). Never vendor it.
        .package(path: "../../Sources/AioRunPluginAPI"),
        // Hummingbird without its default traits: no swift-configuration (a plugin reads its
        // config from the host) and FoundationEssentials instead of full Foundation, so libhttp.so
        // needs no shared library that the host does not already map.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // The plugin's own swift-log (shared with Hummingbird, NIO and ServiceLifecycle inside
        // this .so); AioRunLogBridge routes it to the host's log handler.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "HTTPPlugin",
            dependencies: [
                .product(name: "AioRunPluginAPI", package: "AioRunPluginAPI"),
                .product(name: "AioRunLogBridge", package: "AioRunPluginAPI"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
