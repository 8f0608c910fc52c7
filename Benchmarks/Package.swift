// swift-tools-version:6.1
// AioRun benchmarks (issue 4): benchmark plugins, loaded by the real aiorun-host, and the raw
// Swift floor for the same workloads. `Benchmarks/run` builds this package in release and drives it.
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let api: Target.Dependency = .product(name: "AioRunPluginAPI", package: "AioRunPluginAPI")

let package = Package(
    name: "AioRunBenchmarks",
    products: [
        // Benchmark plugins: lib<name>.so, loaded by .build-bench/release/aiorun-host.
        .library(name: "bench-sleepers", type: .dynamic, targets: ["BenchSleepers"]),
        .library(name: "bench-shields", type: .dynamic, targets: ["BenchShields"]),
        .library(name: "bench-executor", type: .dynamic, targets: ["BenchExecutor"]),
        .library(name: "bench-empty", type: .dynamic, targets: ["BenchEmpty"]),
        .library(name: "bench-log", type: .dynamic, targets: ["BenchLog"]),
        .library(name: "bench-ready", type: .dynamic, targets: ["BenchReady"]),
        .library(name: "bench-restart", type: .dynamic, targets: ["BenchRestart"]),
        // The raw Swift floor: no AioRun in between.
        .executable(name: "bench-floor", targets: ["BenchFloor"]),
        // The peer pool for executor-N: swift-nio's NIOThreadPool (NIOPosix stays in Benchmarks/;
        // a program of its own, so that the floor's start-up does not map NIO).
        .executable(name: "bench-nio-pool", targets: ["BenchNIOPool"]),
    ],
    dependencies: [
        // As for any out-of-tree plugin: the API as a product of its own package, linked as the
        // shared libAioRunPluginAPI.so (README, "Why the API is its own package").
        .package(path: "../Sources/AioRunPluginAPI"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        .target(name: "BenchSleepers", dependencies: [api], swiftSettings: swift6),
        .target(name: "BenchShields", dependencies: [api], swiftSettings: swift6),
        .target(name: "BenchExecutor", dependencies: [api], swiftSettings: swift6),
        .target(name: "BenchEmpty", dependencies: [api], swiftSettings: swift6),
        .target(name: "BenchLog", dependencies: [api], swiftSettings: swift6),
        // The clock and the unbuffered line both readiness and restart plugins stamp with.
        .target(name: "BenchStamps", swiftSettings: swift6),
        .target(name: "BenchReady", dependencies: [api, "BenchStamps"], swiftSettings: swift6),
        .target(name: "BenchRestart", dependencies: [api, "BenchStamps"], swiftSettings: swift6),
        .executableTarget(name: "BenchFloor", swiftSettings: swift6),
        .executableTarget(
            name: "BenchNIOPool",
            dependencies: [.product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swift6
        ),
    ]
)
