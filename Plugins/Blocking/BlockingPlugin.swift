import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// Submits blocking jobs of `job-ms` (default 1000) to its executor pool, `jobs` at a time
/// (default 1), in a loop, to show the pool's drain at shutdown: a running job finishes before
/// the plugin is stopped. Each job prints `job <n> started` and `job <n> finished` to stdout.
final class BlockingPlugin: AioRunPlugin {
    let context: PluginContext
    let jobMillis: Int
    let parallel: Int

    init(context: PluginContext) throws {
        self.context = context
        jobMillis = try context.config.int("job-ms", default: 1000, in: 0...86_400_000)
        parallel = try context.config.int("jobs", default: 1, in: 1...1024)
    }

    func run() async throws {
        let (context, jobMillis, parallel) = (self.context, self.jobMillis, self.parallel)
        var round = 0
        while !Task.isCancelled {
            round += 1
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...parallel {
                    let number = (round - 1) * parallel + index
                    group.addTask {
                        try await context.executor.run("sleep \(jobMillis) ms #\(number)") {
                            print("job \(number) started")
                            var pause = timespec(tv_sec: jobMillis / 1000, tv_nsec: (jobMillis % 1000) * 1_000_000)
                            nanosleep(&pause, nil)
                            print("job \(number) finished")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "blocking") { try BlockingPlugin(context: $0) }
}
