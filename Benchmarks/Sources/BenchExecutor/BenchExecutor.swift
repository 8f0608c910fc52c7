import AioRunPluginAPI

/// executor-N: awaits `jobs` no-op blocking jobs on the plugin's executor pool, from `window`
/// concurrent callers (each awaits its share one job at a time, so at most `window` jobs are in
/// flight), prints `BENCH-ELAPSED ns=<ns>` and asks the host to shut down.
final class BenchExecutor: AioRunPlugin {
    let context: PluginContext
    let jobs: Int
    let window: Int

    init(context: PluginContext) throws {
        self.context = context
        jobs = try context.config.int("jobs", default: 100_000, in: 1...100_000_000)
        window = try context.config.int("window", default: 64, in: 1...100_000)
    }

    func run() async throws {
        let (context, jobs, window) = (self.context, self.jobs, self.window)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<window {
                let share = jobs / window + (caller < jobs % window ? 1 : 0)
                group.addTask {
                    for _ in 0..<share {
                        try await context.executor.run("no-op") {}
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        let (seconds, attoseconds) = elapsed.components
        print("BENCH-ELAPSED ns=\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)")
        context.requestShutdown(reason: "benchmark done")
    }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-executor") {
        try BenchExecutor(context: $0)
    }
}
