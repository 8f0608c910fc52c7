import AioRunLogBridge
import AioRunPluginAPI
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A test fixture that logs through its own swift-log from a plain POSIX thread, where no plugin
/// task runs (as NIO's event loops log for Vapor; README, "Logging through your own swift-log:
/// the bridge"). Config:
/// - `logger`: `instance` (default) logs through `AioRunLogBridge.logger(label:sink:minimumLevel:)`,
///   bound to this instance; `global` logs through `Logger(label:)`, made by the bridge's global
///   bootstrap, which keeps the first instance's sink.
/// - `count`: how many lines the thread logs (default 20, 1...10000), `thread line <i> of <name>`,
///   about 1 ms apart; then `thread done of <name>`.
final class ThreadLogPlugin: AioRunPlugin {
    let context: PluginContext
    let logger: Logger
    let count: Int

    init(context: PluginContext) throws {
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
        self.context = context
        count = try context.config.int("count", default: 20, in: 1...10_000)
        switch context.config.string("logger", default: "instance") {
        case "instance":
            logger = AioRunLogBridge.logger(
                label: "thread-log",
                sink: context.log.sink,
                minimumLevel: context.log.minimumLevel.rawValue
            )
        case "global":
            logger = Logger(label: "thread-log")
        case let other:
            throw PluginConfigError(key: "logger", value: other, expected: "instance or global")
        }
    }

    func run() async throws {
        let name = context.name
        let logger = self.logger
        let count = self.count
        try PlainThread.start {
            for line in 1...count {
                logger.info("thread line \(line) of \(name)")
                usleep(1000)
            }
            logger.info("thread done of \(name)")
        }
    }
}

/// A detached POSIX thread running one closure: no Swift task, so no task-local plugin context.
enum PlainThread {
    struct StartFailed: Error, CustomStringConvertible {
        let code: Int32
        var description: String { "pthread_create failed: \(code)" }
    }

    /// The closure, carried across `pthread_create` as an opaque retained pointer.
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let code = pthread_create(
            &thread,
            nil,
            { raw in
                guard let raw else { return nil }
                Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
                return nil
            },
            box
        )
        guard code == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw StartFailed(code: code)
        }
        pthread_detach(thread)
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "thread-log") { try ThreadLogPlugin(context: $0) }
}
