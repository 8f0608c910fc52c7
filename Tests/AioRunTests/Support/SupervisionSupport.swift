import AioRunPluginAPI
import Logging
import XCTest

@testable import AioRun

/// Log lines a manager wrote, as `level message`, for assertions.
final class CapturedLines: Sendable {
    private let lines = LockedValue<[String]>([])

    /// A logger that appends here.
    var logger: Logger {
        Logger(label: "aiorun") { _ in CapturingHandler(lines: self) }
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var all: [String] { lines.withLock { $0 } }

    /// Every line containing `text`.
    func containing(_ text: String) -> [String] { all.filter { $0.contains(text) } }
}

private struct CapturingHandler: LogHandler {
    let lines: CapturedLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.level) \(event.message)")
    }
}

/// A plugin whose `run()` is a closure, made afresh for each instance.
final class ScriptedPlugin: AioRunPlugin {
    let context: PluginContext
    let script: @Sendable (PluginContext) async throws -> Void

    init(context: PluginContext, script: @escaping @Sendable (PluginContext) async throws -> Void) {
        self.context = context
        self.script = script
    }

    func run() async throws { try await script(context) }
}

/// Runs the manager, failing the test instead of hanging when it does not finish in `limit`.
func runBounded(
    _ manager: LifecycleManager,
    _ units: [ManagedUnit],
    within limit: Duration = .seconds(20),
    file: StaticString = #filePath,
    line: UInt = #line
) async -> ShutdownReport? {
    let outcome = LockedValue<ShutdownReport?>(nil)
    Task {
        let report = await manager.run(units)
        outcome.withLock { $0 = report }
    }
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if let report = outcome.withLock({ $0 }) { return report }
        try? await Task.sleep(for: .milliseconds(5))
    }
    XCTFail("the manager did not finish within \(limit)", file: file, line: line)
    return nil
}
