import AioRun
import AioRunLogBridge
import AioRunPluginAPI
import Logging

/// What an in-test plugin did, for assertions.
final class Happenings: Sendable {
    private let events = LockedValue<[String]>([])

    func note(_ event: String) { events.withLock { $0.append(event) } }

    var all: [String] { events.withLock { $0 } }
}

/// A well-behaved plugin: logs, registers a shutdown callback, runs a tracked task until it is
/// cancelled, and finishes a shielded write during teardown.
final class WellBehavedPlugin: AioRunPlugin {
    let context: PluginContext
    let happenings: Happenings

    init(context: PluginContext, happenings: Happenings) throws {
        self.context = context
        self.happenings = happenings
        _ = try context.config.int("interval-ms", default: 10, in: 1...1000)
        context.onShutdown("flush") { happenings.note("callback ran") }
    }

    func run() async throws {
        let happenings = self.happenings
        context.log.info("started with greeting=\(context.config.string("greeting", default: "none"))")
        context.spawn("worker") {
            do {
                while true { try await Task.sleep(for: .milliseconds(10)) }
            } catch {
                happenings.note("worker cancelled")
            }
        }
        context.spawn("saver") {
            _ = try await shutdownWaitsFor("save") {
                happenings.note("shield started")
                try? await Task.sleep(for: .milliseconds(200))
                happenings.note("shield finished")
                return 1
            }
        }
    }
}

/// A plugin whose tracked task ignores cancellation and outlives its time limit.
final class StubbornPlugin: AioRunPlugin {
    let context: PluginContext

    init(context: PluginContext) { self.context = context }

    func run() async throws {
        context.spawn("stubborn") {
            let until = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}

/// A plugin that asks for shutdown itself after a moment.
final class QuittingPlugin: AioRunPlugin {
    let context: PluginContext

    init(context: PluginContext) { self.context = context }

    func run() async throws {
        try await Task.sleep(for: .milliseconds(20))
        context.requestShutdown(reason: "work done")
    }
}

/// A plugin whose `run()` throws.
final class FailingPlugin: AioRunPlugin {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "disk on fire" }
    }

    init(context: PluginContext) {}

    func run() async throws { throw Failure() }
}

/// A plugin that logs through its own swift-log, routed by `AioRunLogBridge` (bootstrapped once
/// per process, with the first context's sink).
final class SwiftLogPlugin: AioRunPlugin {
    let context: PluginContext
    let logger: Logger

    init(context: PluginContext) {
        AioRunLogBridge.bootstrap(sink: context.log.sink, minimumLevel: context.log.minimumLevel.rawValue)
        self.context = context
        self.logger = Logger(label: "bridged")
    }

    func run() async throws {
        logger.info("swift-log from \(context.name)")
    }
}
