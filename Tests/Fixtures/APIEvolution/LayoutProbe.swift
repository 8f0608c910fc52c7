// Prints what a client built against one API library reads through a PluginContext, so that
// measure.sh can run it on a library with an added stored property: correct values, or a crash.
@_spi(AioRunRuntime) import AioRunPluginAPI

final class NullScope: LifecycleScope {
    func spawn(label: String, operation: @escaping @Sendable () async throws -> Void) {}
    func shield<T: Sendable>(label: String, operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await operation()
    }
    func onShutdown(label: String, callback: @escaping @Sendable () async throws -> Void) {}
    func requestShutdown(reason: String) {}
    func runBlocking<T: Sendable>(label: String, job: @escaping @Sendable () throws -> T) async throws -> T {
        try job()
    }
    var executorWorkers: Int { 3 }
}
let context = PluginContext(
    name: "client",
    log: PluginLog(pluginName: "client", minimumLevel: .info) { level, label, message, _ in
        print("sink:", level, label, message)
    },
    config: PluginConfig(["k": "v"]),
    threadHint: 2,
    scope: NullScope()
)
print(
    "name=\(context.name) hint=\(context.threadHint) workers=\(context.executor.maxWorkers)",
    "config=\(context.config.values) logname=\(context.log.pluginName)"
)
context.log.info("hello")
