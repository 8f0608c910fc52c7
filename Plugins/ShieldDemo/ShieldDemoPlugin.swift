import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// aiorun's seed example: `run()` awaits shielded work that sleeps `seconds` (default 60) and
/// prints `done!`. Cancelled by shutdown, `run()` prints `oh noes!` at once; the work runs on and
/// shutdown waits for it.
final class ShieldDemoPlugin: AioRunPlugin {
    let seconds: Double

    init(context: PluginContext) throws {
        seconds = try context.config.double("seconds", default: 60, in: 0...86_400)
    }

    func run() async throws {
        let seconds = self.seconds
        do {
            try await shutdownWaitsFor("sleep then print done!") {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                print("done!")
            }
        } catch is CancellationError {
            print("oh noes!")
        }
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "shield-demo") {
        try ShieldDemoPlugin(context: $0)
    }
}
