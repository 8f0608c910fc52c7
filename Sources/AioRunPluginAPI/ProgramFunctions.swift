// The context's functions as free functions, for in-process programs (`run {}` and
// `runUntilShutdown`), whose code runs with the `main` unit's context current (API 2.2; README,
// "In-process use"). Plugin code may use them too: they act on the context of the plugin whose
// task calls them. Each throws an `AioRunAPIError` with code `noCurrentContext` outside an
// AioRun-managed task, before doing anything.

/// The current context, or the `noCurrentContext` error naming `function`.
private func currentContext(for function: String) throws -> PluginContext {
    guard let context = PluginContext.current else { throw AioRunAPIError.noCurrentContext(function: function) }
    return context
}

/// Starts a tracked task in the current plugin's (or program's) lifecycle; see
/// ``PluginContext/spawn(_:file:line:_:)``.
public func spawn(
    _ label: String? = nil,
    file: String = #fileID,
    line: Int = #line,
    _ operation: @escaping @Sendable () async throws -> Void
) throws {
    try currentContext(for: "spawn").spawn(label, file: file, line: line, operation)
}

/// Registers a callback for the first phase of the current plugin's (or program's) teardown;
/// see ``PluginContext/onShutdown(_:file:line:_:)``.
public func onShutdown(
    _ label: String? = nil,
    file: String = #fileID,
    line: Int = #line,
    _ callback: @escaping @Sendable () async throws -> Void
) throws {
    try currentContext(for: "onShutdown").onShutdown(label, file: file, line: line, callback)
}

/// Starts the shutdown, like aiorun's `loop.stop()`; exit code 0. See
/// ``PluginContext/requestShutdown(reason:)``.
public func requestShutdown(reason: String = "requested by the program") throws {
    try currentContext(for: "requestShutdown").requestShutdown(reason: reason)
}

/// Starts the shutdown because of `error`; exit code 3. See
/// ``PluginContext/requestShutdown(error:)``.
public func requestShutdown(error: any Error) throws {
    try currentContext(for: "requestShutdown").requestShutdown(error: error)
}

/// Starts shielded work and returns its handle; see ``PluginContext/startShield(_:file:line:_:)``.
public func startShield<T: Sendable>(
    _ label: String? = nil,
    file: String = #fileID,
    line: Int = #line,
    _ operation: @escaping @Sendable () async throws -> T
) throws -> ShieldedTask<T> {
    try currentContext(for: "startShield").startShield(label, file: file, line: line, operation)
}

/// The current plugin's (or program's) executor pool, like aiorun's default executor:
/// `try await executor.run("label") { … }`. See ``PluginContext/executor``. Where another module
/// also declares `executor`, write `AioRunPluginAPI.executor`.
public var executor: ExecutorPoolHandle {
    get throws { try currentContext(for: "executor").executor }
}
