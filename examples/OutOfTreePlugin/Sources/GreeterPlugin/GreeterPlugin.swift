import AioRunLogBridge
import AioRunPluginAPI
import Logging

/// Greets once when it starts, then every `interval-ms`, and says farewell at shutdown.
///
/// Config (`--set greeter.KEY=VALUE`):
/// - `greeting`: the word to greet with (default `hello`);
/// - `interval-ms`: milliseconds between greetings, 1...86400000 (default 1000).
final class GreeterPlugin: AioRunPlugin {
    /// The plugin's window onto the host: name, log, config, tracked tasks, shutdown callbacks.
    let context: PluginContext
    /// The word to greet with.
    let greeting: String
    /// The time between two greetings of the loop.
    let interval: Duration
    /// The plugin's own swift-log logger, routed to the host by `AioRunLogBridge`.
    let logger: Logger

    /// Reads the config and routes this plugin's swift-log to the host.
    ///
    /// A bad `interval-ms` throws, and the host rejects the plugin before anything runs (exit 65).
    init(context: PluginContext) throws {
        // Bootstrap before creating any Logger: swift-log picks a Logger's handler when the Logger
        // is made, so a stored-property default (`let logger = Logger(...)`) would miss the bridge.
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
        self.logger = Logger(label: "greeter")
        self.context = context
        self.greeting = context.config.string("greeting", default: "hello")
        self.interval = .milliseconds(try context.config.int("interval-ms", default: 1000, in: 1...86_400_000))
    }

    /// Greets, starts the greeting loop as a tracked task and registers the farewell.
    ///
    /// Returning leaves the plugin running: the loop runs until shutdown cancels it.
    func run() async throws {
        let (context, logger, greeting, interval) = (context, logger, greeting, interval)
        logger.info("\(greeting) from out-of-tree plugin \(context.name)")
        context.spawn("greet loop") {
            var count = 0
            while true {
                try await Task.sleep(for: interval)
                count += 1
                logger.info("greeting \(count)")
            }
        }
        context.onShutdown("farewell") {
            logger.info("farewell from \(context.name)")
        }
    }
}

/// The plugin's exported entry (README, "The export"). When you copy this template, change the name here.
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "greeter") { try GreeterPlugin(context: $0) }
}
