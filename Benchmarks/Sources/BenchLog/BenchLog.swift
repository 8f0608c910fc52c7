import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// log-cost: `run()` logs `lines` info lines (default 100 000) through `context.log` as fast as
/// it can, prints `BENCH-ELAPSED ns=<loop time> lines=<n>` (what the logging thread paid), and
/// asks the host to stop. The driver times the whole process too: that includes writing every
/// line out, since the host drains its log queue before it exits.
final class BenchLog: AioRunPlugin {
    let context: PluginContext
    let lines: Int

    init(context: PluginContext) throws {
        self.context = context
        lines = try context.config.int("lines", default: 100_000, in: 1...100_000_000)
    }

    func run() async throws {
        let (context, lines) = (self.context, self.lines)
        let start = Self.now()
        for index in 0..<lines {
            context.log.info("bench-log line \(index) of \(lines)")
        }
        let elapsed = Self.now() - start
        print("BENCH-ELAPSED ns=\(elapsed) lines=\(lines)")
        context.requestShutdown(reason: "bench-log done")
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-log") { try BenchLog(context: $0) }
}
