import Foundation
import XCTest

/// The plugin API's boundary and how it evolves (README "Writing a plugin", "How the API
/// evolves"): plugin code cannot reach the runtime's seams; a plugin built against an earlier API
/// of the host's ABI runs, one built against an earlier ABI is refused before it runs; and an
/// additive change to the library (a stored property, a method, a protocol requirement with a
/// default) leaves binaries built before it working, because the library is built with library
/// evolution.
///
/// The libraries and plugins here are built with `swiftc` into scratch folders, from this
/// checkout's sources or from an earlier commit's (`git archive`); no SwiftPM package is needed.
final class APIEvolutionTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    // MARK: - The boundary

    /// Each runtime seam, used from plugin source, fails to compile with the `@_spi` error (or,
    /// for the protocol, is not found at all); the ordinary plugin below compiles.
    func testPluginSourceCannotReachRuntimeSeams() throws {
        let attempts: [(code: String, error: String)] = [
            ("func f(c: PluginContext) { _ = c.scope }", "'scope' is inaccessible due to '@_spi' protection level"),
            (
                "func f(c: PluginContext) -> PluginContext {"
                    + " PluginContext(name: \"x\", log: c.log, config: c.config, threadHint: 1, scope: c.scope) }",
                "'PluginContext' initializer is inaccessible due to '@_spi' protection level"
            ),
            ("final class S: LifecycleScope {}", "cannot find type 'LifecycleScope' in scope"),
            (
                "func f() -> PluginLog { PluginLog(pluginName: \"x\", minimumLevel: .info) { _, _, _, _ in } }",
                "'PluginLog' initializer is inaccessible due to '@_spi' protection level"
            ),
            (
                "func f(m: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin) -> PluginDescriptor {"
                    + " PluginDescriptor(name: \"x\", abi: 2, apiVersion: \"2.0.0\", make: m) }",
                "'PluginDescriptor' initializer is inaccessible due to '@_spi' protection level"
            ),
            (
                "func f(c: PluginContext) -> ExecutorPoolHandle { ExecutorPoolHandle(scope: c.executor.scope) }",
                "'ExecutorPoolHandle' initializer is inaccessible due to '@_spi' protection level"
            ),
        ]
        for (index, attempt) in attempts.enumerated() {
            let source = scratch.appendingPathComponent("Seam\(index).swift")
            try "import AioRunPluginAPI\n\(attempt.code)\n".write(to: source, atomically: true, encoding: .utf8)
            let result = try swiftc([
                "-typecheck", "-I", Products.folder.appendingPathComponent("Modules").path, source.path,
            ])
            XCTAssertNotEqual(result.code, 0, "\(attempt.code) compiled:\n\(result.transcript)")
            XCTAssertTrue(result.transcript.contains(attempt.error), "\(attempt.code):\n\(result.transcript)")
        }
        let plugin = scratch.appendingPathComponent("Ordinary.swift")
        try Self.pluginSource.write(to: plugin, atomically: true, encoding: .utf8)
        let ordinary = try swiftc([
            "-typecheck", "-I", Products.folder.appendingPathComponent("Modules").path, plugin.path,
        ])
        XCTAssertEqual(ordinary.code, 0, ordinary.transcript)
    }

    // MARK: - Plugins built against earlier commits

    /// A plugin built against the first commit of the host's ABI number (the oldest API version it
    /// must still run) loads into the host built from this checkout and does all it did then.
    func testPluginBuiltAgainstEarliestAPIOfThisABIRuns() throws {
        let history = try abiHistory()
        let api = try buildAPI(fromCommit: history.firstOfCurrentABI, name: "first-of-abi")
        let plugin = try buildPlugin(against: api)
        try assertPluginRuns(plugin)
    }

    /// A plugin built against the last commit of the previous ABI number is refused at the
    /// handshake, naming its ABI, before any of its code beyond the entry runs (exit 65).
    func testPluginBuiltAgainstPreviousABIIsRefusedBeforeItRuns() throws {
        let history = try abiHistory()
        guard let previous = history.lastOfPreviousABI else {
            throw XCTSkip("this repository's history has no earlier ABI number")
        }
        let api = try buildAPI(fromCommit: previous, name: "previous-abi")
        let plugin = try buildPlugin(against: api)
        let host = try ChildProcess.host(["--set", "evolving.greeting=hi", plugin])
        XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 65, host.transcript)
        let message = try XCTUnwrap(host.lines(containing: "aiorun-host: error:").first, host.transcript)
        XCTAssertTrue(message.contains("built against ABI \(history.currentABI - 1)"), message)
        XCTAssertTrue(message.contains("\(history.currentABI)"), message)
        XCTAssertNil(host.index(of: "evolving plugin ran"), host.transcript)
    }

    // MARK: - Additive changes under library evolution

    /// This checkout's API with what a minor version adds: a stored property placed first in
    /// `PluginContext` and in the `PluginLog` struct, a new method, a new `LifecycleScope`
    /// requirement with a default. The host and the plugin, both compiled against the unchanged
    /// API, run on that library (found first through LD_LIBRARY_PATH) without a rebuild.
    func testAdditiveChangesKeepBinariesBuiltBeforeThemWorking() throws {
        let copy = scratch.appendingPathComponent("next-api")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let sources = Products.repositoryRoot.appendingPathComponent("Sources/AioRunPluginAPI")
        for file in try Self.apiFiles(in: sources) + ["Package.swift"] {
            try FileManager.default.copyItem(
                at: sources.appendingPathComponent(file),
                to: copy.appendingPathComponent(file)
            )
        }
        try patch(
            copy.appendingPathComponent("PluginContext.swift"),
            [
                (
                    "public final class PluginContext: Sendable {\n",
                    "public final class PluginContext: Sendable {\n"
                        + "    /// Added in the next minor version.\n"
                        + "    public let addedFirst: [String] = [\"added\"]\n"
                ),
                (
                    "    /// Asks the host to shut down,",
                    "    /// Added in the next minor version.\n"
                        + "    public func addedMethod() -> Int { addedFirst.count }\n\n"
                        + "    /// Asks the host to shut down,"
                ),
            ]
        )
        try patch(
            copy.appendingPathComponent("PluginLog.swift"),
            [
                (
                    "public struct PluginLog: Sendable {\n",
                    "public struct PluginLog: Sendable {\n"
                        + "    /// Added in the next minor version.\n    public let addedNote: String = \"2.1\"\n"
                ),
                // The new library marks what it logs, proving that the old callers reached it.
                (
                    "sink(level.rawValue, pluginName, message(), metadata)",
                    "sink(level.rawValue, pluginName, message(),"
                        + " metadata.merging([\"api\": addedNote]) { old, _ in old })"
                ),
            ]
        )
        try patch(
            copy.appendingPathComponent("LifecycleScope.swift"),
            [
                (
                    "    var executorWorkers: Int { get }\n",
                    "    var executorWorkers: Int { get }\n\n"
                        + "    /// Added in the next minor version.\n    func addedRequirement() -> Int\n"
                ),
                (
                    "/// The requirements API 2.1 added,",
                    "@_spi(AioRunRuntime)\nextension LifecycleScope {\n"
                        + "    /// The default for runtimes built before it.\n"
                        + "    public func addedRequirement() -> Int { 1 }\n}\n\n"
                        + "/// The requirements API 2.1 added,"
                ),
            ]
        )
        let next = try buildAPI(from: copy, into: scratch.appendingPathComponent("next-lib"))
        let plugin = try buildPlugin(
            against: Products.folder.appendingPathComponent("Modules"),
            library: Products.folder
        )
        let lines = try assertPluginRuns(plugin, environment: ["LD_LIBRARY_PATH": next.path])
        XCTAssertTrue(
            lines.contains { $0.contains("evolving plugin ran") && $0.contains("api=2.1") },
            lines.joined(separator: "\n")
        )
    }

    // MARK: - Building

    /// A plugin using the context's everyday surface, written so that it compiles against every
    /// API version since 1.0.
    static let pluginSource = """
        import AioRunPluginAPI

        final class EvolvingPlugin: AioRunPlugin {
            let context: PluginContext
            init(context: PluginContext) { self.context = context }

            func run() async throws {
                let context = self.context
                context.onShutdown("goodbye") { context.log.info("evolving plugin callback ran") }
                let sum = try await context.executor.run("sum") { (1...10).reduce(0, +) }
                let doubled = try await context.shutdownWaitsFor("shielded") { sum * 2 }
                context.spawn("waiter") {
                    while !Task.isCancelled { try await Task.sleep(for: .milliseconds(20)) }
                }
                context.log.info("evolving plugin ran", metadata: [
                    "name": context.name, "sum": "\\(sum)", "doubled": "\\(doubled)",
                    "greeting": context.config.string("greeting", default: "none"),
                    "workers": "\\(context.executor.maxWorkers)", "hint": "\\(context.threadHint)",
                ])
            }
        }

        @c(aiorun_plugin_entry)
        public func aiorunPluginEntry(
            _ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?
        ) -> UnsafeMutableRawPointer? {
            aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "evolving") { EvolvingPlugin(context: $0) }
        }
        """

    /// Runs the host with `plugin` (and `--set evolving.greeting=hi`), checks that the plugin did
    /// all its work and that shutdown is clean; returns the host's output lines.
    @discardableResult
    func assertPluginRuns(_ plugin: String, environment: [String: String] = [:]) throws -> [String] {
        let host = try ChildProcess.host(["--set", "evolving.greeting=hi", plugin], environment: environment)
        let ran = try host.waitForLine(containing: "evolving plugin ran", within: .seconds(30))
        for field in ["sum=55", "doubled=110", "greeting=hi", "name=evolving"] {
            XCTAssertTrue(ran.text.contains(field), "\(field) missing: \(ran.text)")
        }
        host.send(SIGTERM)
        XCTAssertEqual(try host.waitForExit(within: .seconds(10)).code, 0, host.transcript)
        XCTAssertNotNil(host.index(of: "evolving plugin callback ran"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin evolving"), host.transcript)
        return host.transcript.components(separatedBy: "\n")
    }

    /// The API library's sources: the package's top-level Swift files except its manifest.
    static func apiFiles(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".swift") && $0 != "Package.swift" }.sorted()
    }

    /// Builds `libAioRunPluginAPI.so` and its module from the API sources in `sources` into
    /// `output`, with library evolution exactly when that version's manifest asks for it.
    func buildAPI(from sources: URL, into output: URL) throws -> URL {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let manifest = try String(contentsOf: sources.appendingPathComponent("Package.swift"), encoding: .utf8)
        let evolution = manifest.contains("-enable-library-evolution") ? ["-enable-library-evolution"] : []
        let files = try Self.apiFiles(in: sources).map { sources.appendingPathComponent($0).path }
        let result = try swiftc(
            [
                "-parse-as-library", "-module-name", "AioRunPluginAPI", "-emit-library", "-emit-module",
                "-emit-module-path", output.appendingPathComponent("AioRunPluginAPI.swiftmodule").path,
                "-o", output.appendingPathComponent("libAioRunPluginAPI.so").path,
            ] + evolution + files
        )
        XCTAssertEqual(result.code, 0, result.transcript)
        guard result.code == 0 else { throw HostTestError.buildFailed("the API library in \(sources.path)") }
        return output
    }

    /// Extracts `Sources/AioRunPluginAPI` at `commit` and builds it (see ``buildAPI(from:into:)``).
    func buildAPI(fromCommit commit: String, name: String) throws -> URL {
        let checkout = scratch.appendingPathComponent("\(name)-src")
        try FileManager.default.createDirectory(at: checkout, withIntermediateDirectories: true)
        let archive = try ChildProcess(
            URL(fileURLWithPath: "/bin/bash"),
            [
                "-c", "git archive \(commit) Sources/AioRunPluginAPI | tar -xf - -C '\(checkout.path)'",
            ],
            directory: Products.repositoryRoot
        )
        XCTAssertEqual(try archive.waitForExit(within: .seconds(60)).code, 0, archive.transcript)
        return try buildAPI(
            from: checkout.appendingPathComponent("Sources/AioRunPluginAPI"),
            into: scratch.appendingPathComponent(name)
        )
    }

    /// Builds ``pluginSource`` against the API module in `api`, linking `libAioRunPluginAPI.so` by
    /// name from `library` (default: beside the module) as SwiftPM does; at run time the host's
    /// copy is the one it binds to.
    func buildPlugin(against api: URL, library: URL? = nil) throws -> String {
        let source = scratch.appendingPathComponent("EvolvingPlugin-\(UUID().uuidString).swift")
        try Self.pluginSource.write(to: source, atomically: true, encoding: .utf8)
        let output = scratch.appendingPathComponent("libevolving-\(UUID().uuidString).so").path
        let result = try swiftc([
            "-parse-as-library", "-module-name", "EvolvingPlugin", "-emit-library", "-I", api.path, "-L",
            (library ?? api).path,
            "-lAioRunPluginAPI", "-o", output, source.path,
        ])
        XCTAssertEqual(result.code, 0, result.transcript)
        guard result.code == 0 else { throw HostTestError.buildFailed("the evolving plugin against \(api.path)") }
        return output
    }

    /// Runs `swiftc` in Swift 6 mode with `arguments`.
    func swiftc(_ arguments: [String]) throws -> (code: Int32, transcript: String) {
        let compiler = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["swiftc", "-swift-version", "6"] + arguments
        )
        let code = try compiler.waitForExit(within: .seconds(600)).code
        return (code, compiler.transcript)
    }

    /// Replaces each `(old, new)` in `file`, failing if `old` is not there.
    func patch(_ file: URL, _ replacements: [(String, String)]) throws {
        var text = try String(contentsOf: file, encoding: .utf8)
        for (old, new) in replacements {
            guard text.contains(old) else {
                throw HostTestError.buildFailed("\(file.lastPathComponent) no longer contains \(old); update this test")
            }
            text = text.replacingOccurrences(of: old, with: new)
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
    }

    /// Where the ABI number changed in this repository's history of `ABI.swift`.
    struct ABIHistory {
        var currentABI: UInt32
        /// The oldest commit whose API has the current ABI number.
        var firstOfCurrentABI: String
        /// The newest commit before it (the previous ABI number), if the history has one.
        var lastOfPreviousABI: String?
    }

    /// Reads the ABI number at each commit that touched `ABI.swift`, newest first. Skips the
    /// test when git or the history is not available (a shallow or exported checkout).
    func abiHistory() throws -> ABIHistory {
        let path = "Sources/AioRunPluginAPI/ABI.swift"
        let current = try Self.abiNumber(
            in: String(contentsOf: Products.repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        )
        let log = try git(["log", "--format=%H", "--", path])
        guard let log, !log.isEmpty else { throw XCTSkip("no git history for \(path)") }
        var first: String?
        for commit in log.split(separator: "\n").map(String.init) {
            guard let text = try git(["show", "\(commit):\(path)"]) else { break }
            if try Self.abiNumber(in: text) != current { break }
            first = commit
        }
        guard let first else { throw XCTSkip("the current ABI number \(current) is not committed yet") }
        let parent = try git(["rev-parse", "--verify", "--quiet", "\(first)^"])?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return ABIHistory(
            currentABI: current,
            firstOfCurrentABI: first,
            lastOfPreviousABI: parent.flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    /// The number in `AIORUN_PLUGIN_ABI: UInt32 { n }`.
    static func abiNumber(in source: String) throws -> UInt32 {
        let marker = "AIORUN_PLUGIN_ABI: UInt32 {"
        guard let range = source.range(of: marker) else {
            throw HostTestError.buildFailed("ABI.swift has no \(marker)")
        }
        let digits = source[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
        guard let number = UInt32(digits) else {
            throw HostTestError.buildFailed("ABI.swift: no number after \(marker)")
        }
        return number
    }

    /// Runs git in the repository; nil when it fails.
    func git(_ arguments: [String]) throws -> String? {
        let process = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["git"] + arguments,
            directory: Products.repositoryRoot
        )
        guard try process.waitForExit(within: .seconds(60)).code == 0 else { return nil }
        return process.transcript
    }
}
