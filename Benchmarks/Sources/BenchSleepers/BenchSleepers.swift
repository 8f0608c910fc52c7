import AioRunPluginAPI

/// shutdown-N: spawns `count` tracked tasks that each sleep for an hour, then prints
/// `BENCH-READY` on stdout. The driver sends SIGTERM and times the exit.
final class BenchSleepers: AioRunPlugin {
    let context: PluginContext
    let count: Int

    init(context: PluginContext) throws {
        self.context = context
        count = try context.config.int("count", default: 1000, in: 0...10_000_000)
    }

    func run() async throws {
        let context = self.context
        for _ in 0..<count {
            context.spawn("sleeper") {
                try await Task.sleep(for: .seconds(3600))
            }
        }
        print("BENCH-READY")
    }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-sleepers") {
        try BenchSleepers(context: $0)
    }
}
