import AioRunLogBridge
import AioRunPluginAPI
import Logging

/// A tracked task logs a tick every `interval-ms` (default 1000), through the plugin's own
/// swift-log, routed to the host by `AioRunLogBridge`.
final class TickerPlugin: AioRunPlugin {
    let context: PluginContext
    let interval: Duration

    init(context: PluginContext) throws {
        self.context = context
        self.interval = .milliseconds(try context.config.int("interval-ms", default: 1000, in: 1...86_400_000))
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
    }

    func run() async throws {
        let interval = self.interval
        context.spawn("tick loop") {
            let logger = Logger(label: "ticker")
            var count = 0
            while true {
                try await Task.sleep(for: interval)
                count += 1
                logger.info(
                    "tick \(count)",
                    metadata: [
                        "interval-ms":
                            "\(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)"
                    ]
                )
            }
        }
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "ticker") { try TickerPlugin(context: $0) }
}
