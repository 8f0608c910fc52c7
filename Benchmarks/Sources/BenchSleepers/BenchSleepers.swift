import AioRunPluginAPI

/// shutdown-N: spawns `count` tracked tasks that each sleep for an hour, then prints
/// `BENCH-READY` on stdout. The driver sends SIGTERM and times the exit.
///
/// With `group=true` the sleepers are instead children of a task group in `run()`, as a server
/// that keeps one child per connection has them (BENCHMARKS.md, "The TaskGroup floor's slow
/// exits"): the host cancels `run()` at shutdown and the group drains its children. With
/// `group=stop` the plugin cancels its group and asks the host to stop right after its `addTask`
/// loop, while part of the children have not run yet: the order that makes the Swift runtime's
/// drain quadratic (BENCHMARKS.md).
final class BenchSleepers: AioRunPlugin {
    let context: PluginContext
    let count: Int
    let group: String

    init(context: PluginContext) throws {
        self.context = context
        count = try context.config.int("count", default: 1000, in: 0...10_000_000)
        group = context.config.string("group", default: "false")
    }

    func run() async throws {
        let context = self.context
        if group != "false" {
            let stop = group == "stop"
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<count {
                    group.addTask { try? await Task.sleep(for: .seconds(3600)) }
                }
                print("BENCH-READY")
                if stop {
                    group.cancelAll()
                    context.requestShutdown(reason: "group=stop")
                }
            }
            return
        }
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
