// swift-tools-version:6.1
// A server plugin for aiorun-host: a Vapor 4 HTTP server that drains gracefully at shutdown.
// See README.md here and "Writing a server plugin" in the repository's README.
import PackageDescription

let package = Package(
    name: "VaporPlugin",
    products: [
        // A dynamic library product: the host loads .build/<config>/libvapor.so.
        .library(name: "vapor", type: .dynamic, targets: ["VaporPlugin"])
    ],
    dependencies: [
        // The plugin contract, by path, as a product of another package: linked as the shared
        // libAioRunPluginAPI.so that the host already mapped (README, "Why the API is its own
        // package"). Never vendor it.
        .package(path: "../../Sources/AioRunPluginAPI"),
        .package(url: "https://github.com/vapor/vapor", from: "4.122.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // The plugin's own swift-log (shared with Vapor and NIO inside this .so); AioRunLogBridge
        // routes it to the host's log handler.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "VaporPlugin",
            dependencies: [
                .product(name: "AioRunPluginAPI", package: "AioRunPluginAPI"),
                .product(name: "AioRunLogBridge", package: "AioRunPluginAPI"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
