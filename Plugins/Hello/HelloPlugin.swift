import AioRunPluginAPI

/// Greets when it starts and says goodbye from its shutdown callback.
final class HelloPlugin: AioRunPlugin {
    let context: PluginContext

    init(context: PluginContext) {
        self.context = context
    }

    func run() async throws {
        let context = self.context
        context.onShutdown("goodbye") {
            context.log.info("goodbye from \(context.name)")
        }
        context.log.info(
            "hello from \(context.name)",
            metadata: ["greeting": context.config.string("greeting", default: "hello")]
        )
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "hello") { HelloPlugin(context: $0) }
}
