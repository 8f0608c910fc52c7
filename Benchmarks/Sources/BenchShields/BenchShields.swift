import AioRunPluginAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: the clock Python's `time.monotonic_ns()` reads in the driver.
func monotonicNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// shields: `count` (100) tracked tasks each await `shutdownWaitsFor` of a `sleep-ms` (200 ms)
/// sleep. When every sleep has started, prints `BENCH-READY due=<ns>`: the CLOCK_MONOTONIC time
/// when the last sleep is due. The driver sends SIGTERM at once and measures how late the exit is.
final class BenchShields: AioRunPlugin {
    let context: PluginContext
    let count: Int
    let sleepMillis: Int

    init(context: PluginContext) throws {
        self.context = context
        count = try context.config.int("count", default: 100, in: 1...1_000_000)
        sleepMillis = try context.config.int("sleep-ms", default: 200, in: 0...3_600_000)
    }

    func run() async throws {
        let (context, count, sleepMillis) = (self.context, self.count, self.sleepMillis)
        let started = StartCounter()
        for _ in 0..<count {
            context.spawn("caller") {
                do {
                    try await context.shutdownWaitsFor("nap") {
                        let due = monotonicNanos() + Int64(sleepMillis) * 1_000_000
                        let last = started.state.withLock { state -> Int64? in
                            state.count += 1
                            state.due = max(state.due, due)
                            return state.count == count ? state.due : nil
                        }
                        if let last { print("BENCH-READY due=\(last)") }
                        try await Task.sleep(for: .milliseconds(sleepMillis))
                    }
                } catch is CancellationError {
                    // The caller is cancelled at shutdown at once; the nap runs on, shielded.
                }
            }
        }
    }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-shields") { try BenchShields(context: $0) }
}

/// Counts started sleeps and keeps the latest due time.
final class StartCounter: Sendable {
    let state = Mutex((count: 0, due: Int64(0)))
}
