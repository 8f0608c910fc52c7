// Times calls a plugin makes through its PluginContext (medians of 15 rounds), against an API
// library built with or without library evolution. Built and run by measure.sh beside it.
@_spi(AioRunRuntime) import AioRunPluginAPI
import Foundation
import Synchronization

final class NullScope: LifecycleScope {
    let count = Atomic<Int>(0)
    func spawn(label: String, operation: @escaping @Sendable () async throws -> Void) {
        count.add(1, ordering: .relaxed)
    }
    func shield<T: Sendable>(label: String, operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await operation()
    }
    func onShutdown(label: String, callback: @escaping @Sendable () async throws -> Void) {}
    func requestShutdown(reason: String) {}
    func runBlocking<T: Sendable>(label: String, job: @escaping @Sendable () throws -> T) async throws -> T {
        try job()
    }
    var executorWorkers: Int { 1 }
}

let sunk = Atomic<Int>(0)
let context = PluginContext(
    name: "bench",
    log: PluginLog(pluginName: "bench", minimumLevel: .info) { level, _, _, _ in sunk.add(level, ordering: .relaxed) },
    config: PluginConfig(["k": "v"]),
    threadHint: 1,
    scope: NullScope()
)

@inline(never) func measure(_ name: String, iterations: Int, _ body: (Int) -> Void) {
    var samples: [Double] = []
    for _ in 0..<15 {
        let start = ContinuousClock.now
        for i in 0..<iterations { body(i) }
        let elapsed = ContinuousClock.now - start
        let (s, a) = elapsed.components
        samples.append((Double(s) * 1e9 + Double(a) / 1e9) / Double(iterations))
    }
    samples.sort()
    print("\(name): median \(String(format: "%.2f", samples[samples.count / 2])) ns/call")
}

measure("log.debug (dropped)", iterations: 2_000_000) { _ in context.log.debug("x") }
measure("log.info (to sink)", iterations: 1_000_000) { _ in context.log.info("x") }
measure("spawn (null scope)", iterations: 1_000_000) { _ in context.spawn("s") {} }
measure("config.string", iterations: 1_000_000) { _ in _ = context.config.string("k", default: "d") }
measure("name.count", iterations: 2_000_000) { _ in sunk.add(context.name.utf8.count, ordering: .relaxed) }
