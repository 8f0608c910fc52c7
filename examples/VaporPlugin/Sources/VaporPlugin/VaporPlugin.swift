import AioRunLogBridge
import AioRunPluginAPI
import Logging
import NIOCore
import Synchronization
import Vapor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Vapor 4 HTTP server as an AioRun plugin (README, "Writing a server plugin", "Frameworks
/// without swift-service-lifecycle: Vapor 4").
///
/// Vapor's own entry points (`app.execute()`, `app.startup()`, the `serve` command) are not used:
/// they read the *host's* command line (`Environment.detect()`, `CommandLine.arguments`) and
/// install SIGINT/SIGTERM watchers of their own. Instead the plugin calls the two steps they
/// wrap, `app.asyncBoot()` and `app.server.start(address:)`, and stops the server itself when
/// the host says so:
///
/// - it runs under `context.runGracefully`: the server runs in a shield; the host's shutdown
///   phase 1 only releases a latch, and the shield then calls `app.server.shutdown()`, which
///   closes the listening socket at once and waits for the open requests;
/// - Vapor's own shutdown timeout is set inside the host's time limit
///   (`context.shutdownTimeout`); when it expires with requests still running, the plugin keeps
///   waiting for them, so the host's time limit, not Vapor's, ends the drain (exit 70 naming
///   `vapor server`) instead of an empty reply and exit 0;
/// - it reports ready once the server listens (exported `readiness: .whenReported`), and
///   `/readyz` answers 503 while the host drains;
/// - its `Logger` is bound to this instance (`AioRunLogBridge.logger`) and handed to Vapor, so
///   request logs written on NIO's event-loop threads carry this instance's name.
///
/// Config (`--set NAME.KEY=VALUE`):
/// - `port`: the TCP port on 127.0.0.1, 1...65535 (required).
///
/// Routes:
/// - `GET /`: the plugin instance's name (an alias answers with the alias);
/// - `GET /slow?ms=N`: sleeps N milliseconds (0...600000, default 1000), then answers `slow done`;
/// - `GET /livez`: 200 `ok` while the server runs;
/// - `GET /readyz`: 200 `ready` once the server listens, 503 `draining` while the host drains.
final class VaporPlugin: AioRunPlugin {
    let context: PluginContext
    let port: Int
    /// Bound to this instance: records logged through it on any thread are named after it.
    let logger: Logger

    /// Validates the config, routes this library's swift-log to the host and sizes its NIO.
    ///
    /// A missing or bad `port` throws, and the host rejects the plugin at load (exit 65).
    init(context: PluginContext) throws {
        // First, before any Logger exists. It catches the loggers Vapor's libraries make on their
        // own (named after the plugin whose task logs). Never call Vapor's template line
        // `LoggingSystem.bootstrap(from:)` as well: swift-log allows one bootstrap per copy, and a
        // second one traps, ending the whole host (132).
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
        self.context = context
        self.port = try context.config.int("port", default: 0, in: 0...65_535)
        guard (1...65_535).contains(port) else {
            throw PluginConfigError(
                key: "port",
                value: context.config["port"] ?? "(unset)",
                expected: "an integer in 1...65535 (required)"
            )
        }
        NIOSizing.apply(threadHint: context.threadHint, log: context.log)
        // The logger handed to Vapor: its request logs are written on NIO's event-loop threads,
        // where no plugin task runs, so only a handler bound to this instance names them right.
        var logger = AioRunLogBridge.logger(
            label: context.name,
            sink: context.log.sink,
            minimumLevel: context.log.minimumLevel.rawValue
        )
        logger[metadataKey: "port"] = "\(port)"
        self.logger = logger
        DotEnv.warnIfPresent(log: context.log)
    }

    /// Builds the application and runs its server until the host's shutdown has drained it.
    func run() async throws {
        let context = self.context
        // An explicit environment: `Environment.detect()` and Vapor's default arguments would
        // read the host's command line.
        let environment = Environment(name: DotEnv.environmentName, arguments: [context.name])
        // `.singleton`: this library's own NIO, sized in init; never installed as the global
        // executor. `make` also loads `.env` files from the working directory (see DotEnv).
        let app = try await Application.make(environment, .singleton, logger: logger)
        let state = ServerState()
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = port
        app.http.server.configuration.serverName = "aiorun-\(context.name)"
        app.http.server.configuration.logger = logger
        let vaporTimeout = DrainTimeout.vapor(within: context.shutdownTimeout)
        app.http.server.configuration.shutdownTimeout = DrainTimeout.timeAmount(vaporTimeout)
        app.middleware.use(InFlightRequests(state: state))
        routes(app, state: state)

        try await context.runGracefully(
            "vapor server",
            run: { ready in
                try await Self.serve(app, state: state, vaporTimeout: vaporTimeout, log: context.log, ready: ready)
            },
            // Phase 1: only release the latch. It touches no server, so it is safe after a failed
            // start too; the shield does the drain.
            beginGracefulShutdown: { state.stop() }
        )
    }

    /// Starts the server, reports ready, waits for the host's stop, then drains. Always shuts the
    /// application down before returning or throwing (Vapor asserts on an application that was
    /// not shut down).
    private static func serve(
        _ app: Application,
        state: ServerState,
        vaporTimeout: Duration,
        log: PluginLog,
        ready: @escaping @Sendable () -> Void
    ) async throws {
        do {
            guard !state.isStopped else {
                try await app.asyncShutdown()
                return
            }
            try await app.asyncBoot()
            // What Vapor's serve command does, without its signal watchers.
            try await app.server.start(address: nil)
        } catch {
            // A failed bind: nothing listens. Shut the application down and fail the start.
            try? await app.asyncShutdown()
            throw error
        }
        state.markListening()
        ready()
        await state.waitForStop()

        // Stops accepting at once, lets open requests finish; returns when every connection has
        // closed or Vapor's shutdown timeout expired ("Server stop took too long").
        let started = ContinuousClock.now
        await app.server.shutdown()
        let open = state.inFlight
        if open > 0 {
            // Vapor gave up waiting but its connections are still open and their handlers run:
            // returning now would let the host exit under them (an empty reply, exit 0). Wait for
            // them; the host's time limit bounds this wait and names `vapor server` if it expires.
            log.warning(
                "Vapor's shutdown timeout of \(vaporTimeout) expired after \(ContinuousClock.now - started) "
                    + "with \(open) request(s) in flight; waiting for them within the host's time limit"
            )
            await state.waitUntilIdle()
        }
        try await app.asyncShutdown()
    }

    /// The example's routes.
    private func routes(_ app: Application, state: ServerState) {
        let name = context.name
        let context = self.context
        app.get { _ in name }
        app.get("slow") { request async throws -> String in
            let ms: Int = request.query["ms"] ?? 1000
            guard (0...600_000).contains(ms) else {
                throw Abort(.badRequest, reason: "ms must be an integer in 0...600000")
            }
            try await Task.sleep(for: .milliseconds(ms))
            return "slow done"
        }
        app.get("livez") { _ in "ok" }
        app.get("readyz") { _ -> Response in
            guard state.isListening && !context.isDraining else {
                return Response(status: .serviceUnavailable, body: "draining")
            }
            return Response(status: .ok, body: "ready")
        }
    }
}

/// Vapor's own shutdown timeout, chosen inside the host's time limit.
enum DrainTimeout {
    /// The host's limit less a fifth of it (at most 1 s): Vapor's timer starts a little after the
    /// host's (in phase 1), and the plugin needs the rest to say what is still running before
    /// the host's limit names it.
    static func vapor(within hostLimit: Duration) -> Duration {
        let margin = min(hostLimit / 5, .seconds(1))
        return max(hostLimit - margin, .zero)
    }

    /// `duration` as NIO's `TimeAmount`.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// The state the routes, the middleware and the drain share.
///
/// `Sendable` through its `Mutex`: every field is read and written under the lock.
final class ServerState: Sendable {
    private struct Fields {
        var listening = false
        var stopped = false
        var stopWaiter: CheckedContinuation<Void, Never>?
        var inFlight = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let fields = Mutex(Fields())

    /// Whether the server has started listening.
    var isListening: Bool { fields.withLock { $0.listening } }
    /// Whether the host has asked the server to stop.
    var isStopped: Bool { fields.withLock { $0.stopped } }
    /// Requests inside their handlers now.
    var inFlight: Int { fields.withLock { $0.inFlight } }

    func markListening() { fields.withLock { $0.listening = true } }

    /// The host's phase 1: releases ``waitForStop()``, now or when it is called.
    func stop() {
        let waiter = fields.withLock { fields -> CheckedContinuation<Void, Never>? in
            fields.stopped = true
            defer { fields.stopWaiter = nil }
            return fields.stopWaiter
        }
        waiter?.resume()
    }

    /// Returns once ``stop()`` has been called. One caller at a time (the shield).
    func waitForStop() async {
        await withCheckedContinuation { continuation in
            let now = fields.withLock { fields -> Bool in
                if fields.stopped { return true }
                fields.stopWaiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    func requestStarted() { fields.withLock { $0.inFlight += 1 } }

    func requestEnded() {
        let waiters = fields.withLock { fields -> [CheckedContinuation<Void, Never>] in
            fields.inFlight -= 1
            guard fields.inFlight == 0 else { return [] }
            defer { fields.idleWaiters = [] }
            return fields.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no request is inside its handler.
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let now = fields.withLock { fields -> Bool in
                if fields.inFlight == 0 { return true }
                fields.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Counts the requests inside their handlers, for the drain.
struct InFlightRequests: AsyncMiddleware {
    let state: ServerState

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        state.requestStarted()
        defer { state.requestEnded() }
        return try await next.respond(to: request)
    }
}

/// Vapor's `.env` loading: `Application.make` reads `.env.<environment>` and `.env` from the
/// *process's* working directory (the host's) into the process environment with `setenv`, for
/// every plugin and the host, once per instance.
enum DotEnv {
    /// The environment's name, and so the `.env.<name>` file Vapor reads.
    static let environmentName = "production"

    /// Logs a warning when Vapor is about to load such a file, so its effect is not a surprise.
    static func warnIfPresent(log: PluginLog) {
        for file in [".env.\(environmentName)", ".env"] where access(file, F_OK) == 0 {
            let directory = FileManager.default.currentDirectoryPath
            log.warning(
                "Vapor will load \(directory)/\(file) into the process environment of the host and every plugin"
            )
        }
    }
}

/// Sizes this library's copy of NIO's singletons once (SERVER-PLUGINS.md, rule 4).
///
/// swift-nio is linked statically into libvapor.so. Aliases of the same .so share that copy, and
/// NIO traps if a suggestion is set twice or after first use: hence one setter, guarded by a lock
/// that the aliases share too. The first instance's hint wins.
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

/// The plugin's exported entry (README, "The export"): ready when its server listens.
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "vapor", readiness: .whenReported) {
        try VaporPlugin(context: $0)
    }
}
