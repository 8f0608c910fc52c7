import AioRunPluginAPI
import BenchStamps
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// restart (issue 13): run with `--restart on-failure`. The first instance reports ready, waits
/// `fail-after-ms` (default 20), writes `BENCH-FAIL at=<CLOCK_MONOTONIC ns>` to stdout and throws.
/// The host tears it down, waits its restart delay and creates a fresh instance through the
/// factory; that one reports ready, writes `BENCH-READY-AGAIN at=<ns>` right after, and runs until
/// it is cancelled. The driver takes failure → ready again from `at` and the host's
/// `plugin bench-restart ready in ...s (restart 1)` line.
final class BenchRestart: AioRunPlugin {
    /// Instances made so far in this process (the library stays loaded across restarts).
    static let made = Atomic<Int>(0)

    let context: PluginContext
    let failAfterMillis: Int
    let instance: Int

    init(context: PluginContext) throws {
        self.context = context
        failAfterMillis = try context.config.int("fail-after-ms", default: 20, in: 0...60_000)
        instance = Self.made.add(1, ordering: .relaxed).newValue
    }

    func run() async throws {
        if instance == 1 {
            context.reportReady()
            try await Task.sleep(for: .milliseconds(failAfterMillis))
            writeLine("BENCH-FAIL at=\(monotonicNanos())")
            throw BenchRestartFailure()
        }
        context.reportReady()
        writeLine("BENCH-READY-AGAIN at=\(monotonicNanos()) instance=\(instance)")
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}

struct BenchRestartFailure: Error, CustomStringConvertible {
    var description: String { "the benchmark's planned failure" }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-restart", readiness: .whenReported) {
        try BenchRestart(context: $0)
    }
}
