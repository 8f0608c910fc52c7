// swift-tools-version:6.1
import PackageDescription

/// Every in-tree plugin is a dynamic library product `lib<name>.so` that links the shared
/// `AioRunPluginAPI` from its own package, never a copy of it (README, "Writing a plugin",
/// "Building").
func plugin(_ product: String, target: String, path: String, logBridge: Bool = false) -> (Product, Target) {
    var dependencies: [Target.Dependency] = [.product(name: "AioRunPluginAPI", package: "AioRunPluginAPI")]
    if logBridge {
        dependencies += [
            .product(name: "AioRunLogBridge", package: "AioRunPluginAPI"),
            .product(name: "Logging", package: "swift-log"),
        ]
    }
    return (
        .library(name: product, type: .dynamic, targets: [target]),
        .target(name: target, dependencies: dependencies, path: path, swiftSettings: swift6)
    )
}

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// An executable that hosts plugins links AioRunSignalInterposer and exports the libc signal
/// functions it defines, so that plugin libraries bind to them instead of libc's (see README,
/// Failure modes, Signals).
let exportsSignalGuard: [LinkerSetting] = [
    .unsafeFlags(
        [
            "sigaction", "signal", "bsd_signal", "ssignal", "sysv_signal", "__sysv_signal", "sigset", "raise",
            "gsignal",
            "dispatch_source_create",
        ]
        .flatMap { ["-Xlinker", "--export-dynamic-symbol=\($0)"] },
        .when(platforms: [.linux])
    )
]

let plugins = [
    plugin("hello", target: "HelloPlugin", path: "Plugins/Hello"),
    plugin("ticker", target: "TickerPlugin", path: "Plugins/Ticker", logBridge: true),
    plugin("shield-demo", target: "ShieldDemoPlugin", path: "Plugins/ShieldDemo"),
    plugin("blocking", target: "BlockingPlugin", path: "Plugins/Blocking"),
    plugin("journal", target: "JournalPlugin", path: "Plugins/Journal"),
    // A test fixture whose misbehaviour is chosen by config; see Tests/Fixtures/Faulty.
    plugin("faulty", target: "FaultyPlugin", path: "Tests/Fixtures/Faulty"),
    // A test fixture that crashes, or harms its process, as config says; see Tests/Fixtures/Crasher.
    plugin("crasher", target: "CrasherPlugin", path: "Tests/Fixtures/Crasher"),
    // A test fixture that changes, or raises, the host's signals; see Tests/Fixtures/SignalMisuse.
    plugin("signal-misuse", target: "SignalMisusePlugin", path: "Tests/Fixtures/SignalMisuse"),
    plugin("thread-log", target: "ThreadLogPlugin", path: "Tests/Fixtures/ThreadLog", logBridge: true),
]

let package = Package(
    name: "AioRun",
    products: [
        .executable(name: "aiorun-host", targets: ["aiorun-host"]),
        .library(name: "AioRun", targets: ["AioRun"]),
        // Runs a plugin in-process under a real lifecycle manager, for plugin authors' tests
        // (see README, "Testing your plugin").
        .library(name: "AioRunTestKit", targets: ["AioRunTestKit"]),
        .executable(name: "seed-example", targets: ["SeedExample"]),
        // The host's TOML reader, dlopened on `--config` only (see Sources/AioRunTOML).
        .library(name: "AioRunTOML", type: .dynamic, targets: ["AioRunTOML"]),
    ] + plugins.map(\.0),
    dependencies: [
        .package(path: "Sources/AioRunPluginAPI"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .target(
            name: "AioRun",
            dependencies: [
                .product(name: "AioRunPluginAPI", package: "AioRunPluginAPI"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "CAioRunSignalGuard",
            ],
            swiftSettings: swift6
        ),
        // The guard over the host's signals: what it keeps and what it saw (a C target, so that
        // it can run inside signal handlers).
        .target(name: "CAioRunSignalGuard"),
        // libc's sigaction/signal/raise around the guard, for executables that host plugins
        // only: test bundles (ThreadSanitizer intercepts the same functions) do without.
        .target(name: "AioRunSignalInterposer", dependencies: ["CAioRunSignalGuard"]),
        .target(
            name: "AioRunHost",
            dependencies: ["AioRun", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        .target(
            name: "AioRunTOML",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "aiorun-host",
            dependencies: [
                "AioRunHost", "AioRunSignalInterposer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift6,
            linkerSettings: exportsSignalGuard
        ),
        .executableTarget(
            name: "SeedExample",
            dependencies: ["AioRun", "AioRunSignalInterposer"],
            path: "examples/InProcess",
            exclude: ["README.md", "Twin"],
            swiftSettings: swift6,
            linkerSettings: exportsSignalGuard
        ),
        // The returning runner and the program's free functions (README, "In-process use"):
        // aiorun's sample program's Swift twin, and the probe that the end-to-end tests drive
        // through each runner feature with real signals.
        .executableTarget(
            name: "InProcessTwin",
            dependencies: ["AioRun", "AioRunSignalInterposer"],
            path: "examples/InProcess/Twin",
            swiftSettings: swift6,
            linkerSettings: exportsSignalGuard
        ),
        .executableTarget(
            name: "RunnerProbe",
            dependencies: ["AioRun", "AioRunSignalInterposer"],
            path: "Tests/Fixtures/RunnerProbe",
            swiftSettings: swift6,
            linkerSettings: exportsSignalGuard
        ),
        .testTarget(
            name: "AioRunTests",
            dependencies: ["AioRun"],
            swiftSettings: swift6
        ),
        .target(
            name: "AioRunTestKit",
            dependencies: ["AioRun", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "AioRunTestKitTests",
            dependencies: [
                "AioRunTestKit",
                .product(name: "AioRunLogBridge", package: "AioRunPluginAPI"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        // The host's own types (argument parsing, config reader, ELF reader, log format); the
        // ELF tests read the plugins this package builds.
        .testTarget(
            name: "AioRunHostTests",
            dependencies: ["AioRunHost"],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["aiorun-host", "SeedExample", "InProcessTwin", "RunnerProbe"],
            swiftSettings: swift6
        ),
    ] + plugins.map(\.1)
)
