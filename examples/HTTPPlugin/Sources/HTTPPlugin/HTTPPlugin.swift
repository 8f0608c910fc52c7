import AioRunLogBridge
import AioRunPluginAPI
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Hummingbird HTTP server as an AioRun plugin, following every rule of a server plugin
/// (docs/server-plugins.md):
///
/// - its `ServiceGroup` has no signals of its own (`gracefulShutdownSignals: []`): the host owns
///   SIGINT/SIGTERM and tells the plugin when to drain;
/// - it runs under `context.runGracefully`: the group runs in a shield, and the host's shutdown
///   phase 1 calls `triggerGracefulShutdown()`, so the server stops accepting, finishes the
///   requests it has, and the host waits for that within the plugin's time limit;
/// - it never installs NIO as the process-wide executor, and it sizes its own copy of NIO's
///   singletons from `context.threadHint` before anything uses them;
/// - it logs through swift-log routed to the host by `AioRunLogBridge`, bootstrapped first thing;
/// - it is exported with readiness `.whenReported` and reports ready from Hummingbird's
///   `onServerRunning`, once its socket listens: the host's `plugin http ready in …` line, its
///   `ready:` line and systemd's `READY=1` then mean "accepting connections" (README,
///   "Readiness and ordered start").
///
/// Config (`--set NAME.KEY=VALUE`):
/// - `port`: the TCP port, 1...65535 (required);
/// - `address`: the address to listen on (default `127.0.0.1`; `0.0.0.0` in a container, where
///   probes and traffic arrive on the pod's address).
///
/// Routes:
/// - `GET /`: the plugin instance's name (an alias answers with the alias);
/// - `GET /slow?ms=N`: sleeps N milliseconds (0...600000, default 1000), then answers `slow done`;
/// - `GET /livez`: `200 alive` while the process runs (a liveness probe);
/// - `GET /readyz`: `200 ready` when the host counts the plugin as ready and is not draining,
///   otherwise `503 draining` or `503 not ready` (a readiness probe: during `--drain-delay` it
///   takes the instance out of a load balancer's rotation while the server still serves; README,
///   "Drain delay").
final class HTTPPlugin: AioRunPlugin {
    let context: PluginContext
    let port: Int
    let address: String
    let logger: Logger

    /// Validates the config and routes this plugin's swift-log to the host.
    ///
    /// A missing or bad `port` throws, and the host rejects the plugin at load (exit 65).
    init(context: PluginContext) throws {
        // First, before any Logger exists: swift-log picks a Logger's handler when it is created.
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
        self.context = context
        self.port = try context.config.int("port", default: 0, in: 0...65_535)
        self.address = context.config.string("address", default: "127.0.0.1")
        guard (1...65_535).contains(port) else {
            throw PluginConfigError(
                key: "port",
                value: context.config["port"] ?? "(unset)",
                expected: "an integer in 1...65535 (required)"
            )
        }
        NIOSizing.apply(threadHint: context.threadHint, log: context.log)
        var logger = Logger(label: context.name)
        logger[metadataKey: "port"] = "\(port)"
        self.logger = logger
    }

    /// Builds the server and runs it until the host's shutdown has drained it. Reports ready once
    /// the server listens; a bind that fails makes `run()` throw before that, which fails the
    /// host's start (exit 69) or, with `--restart on-failure`, restarts this instance.
    func run() async throws {
        let (name, context) = (self.context.name, self.context)
        let router = Router()
        // Hummingbird's own request log: one `Request` line per request, at info, in the host's
        // output as `[<plugin name>]`.
        router.add(middleware: LogRequestsMiddleware(.info))
        router.get("/") { _, _ -> String in
            name
        }
        router.get("/slow") { request, _ -> String in
            let ms = request.uri.queryParameters.get("ms", as: Int.self) ?? 1000
            guard (0...600_000).contains(ms) else {
                throw HTTPError(.badRequest, message: "ms must be an integer in 0...600000")
            }
            try await Task.sleep(for: .milliseconds(ms))
            return "slow done"
        }
        router.get("/livez") { _, _ -> String in
            "alive"
        }
        router.get("/readyz") { _, _ -> Response in
            // isDraining is true from the host's first shutdown trigger on (and while this
            // instance is torn down for a restart); the server still serves until its teardown.
            let (status, text): (HTTPResponse.Status, String) =
                context.isDraining
                ? (.serviceUnavailable, "draining")
                : context.isReady ? (.ok, "ready") : (.serviceUnavailable, "not ready")
            return Response(
                status: status,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address, port: port), serverName: "aiorun-\(name)"),
            // Called once the socket is bound and listening, before the first accept: from here a
            // connection is queued by the kernel and served, so this is when the plugin is ready.
            onServerRunning: { _ in context.reportReady() },
            // NIO's singleton group of THIS library's copy of NIO, sized in init. Never installed
            // as the global executor.
            eventLoopGroupProvider: .singleton,
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [app],
                gracefulShutdownSignals: [],  // the host owns the signals
                cancellationSignals: [],
                logger: logger
            )
        )
        try await context.runGracefully(
            "http server",
            run: { try await group.run() },
            beginGracefulShutdown: { await group.triggerGracefulShutdown() }
        )
    }
}

/// Sizes this library's copy of NIO's singletons once.
///
/// swift-nio is linked statically into libhttp.so, so the process holds one copy of NIO (its
/// event loop threads and blocking pool) per distinct plugin library. Aliases of the same .so
/// share that copy, and NIO traps if a suggestion is set twice or after first use: hence one
/// setter, guarded by a lock that the aliases share too. The first instance's hint wins.
enum NIOSizing {
    private static let applied = Mutex<Int?>(nil)

    static func apply(threadHint: Int, log: PluginLog) {
        applied.withLock { loops in
            if let loops {
                log.debug("NIO singletons already sized to \(loops) loops by an earlier instance of this library")
                return
            }
            // An operator's explicit environment setting wins over the host's hint.
            if getenv("NIO_SINGLETON_GROUP_LOOP_COUNT") == nil {
                NIOSingletons.groupLoopCountSuggestion = threadHint
            }
            if getenv("NIO_SINGLETON_BLOCKING_POOL_THREAD_COUNT") == nil {
                NIOSingletons.blockingPoolThreadCountSuggestion = threadHint
            }
            loops = threadHint
            log.debug("NIO singletons sized: \(threadHint) event loops, \(threadHint) blocking threads")
        }
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    // Ready when it says so (onServerRunning), not when run() starts: README, "Readiness and
    // ordered start".
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "http", readiness: .whenReported) {
        try HTTPPlugin(context: $0)
    }
}
