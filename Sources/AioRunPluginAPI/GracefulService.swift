extension PluginContext {
    /// Runs a long-lived service (an HTTP server's `ServiceGroup`, a gRPC server, …) so that
    /// shutdown drains it instead of cutting it (see README "Writing a server plugin").
    ///
    /// - `run` runs inside ``shutdownWaitsFor(_:file:line:_:)``: cancelling the caller (phase 2)
    ///   does not cancel the service; teardown waits for it (phase 3), bounded by the plugin's
    ///   time limit.
    /// - `beginGracefulShutdown` is registered with ``onShutdown(_:file:line:_:)``: phase 1 calls
    ///   it while everything still runs, so the service stops accepting and finishes what it has.
    ///
    /// Call it from `run()` and return or rethrow what it returns. Neither closure may install
    /// signal handlers; with swift-service-lifecycle, create the group with
    /// `gracefulShutdownSignals: []` and pass `{ group.triggerGracefulShutdown() }`.
    ///
    /// A caller cancelled while the service still drains gets `CancellationError`; the drain
    /// goes on, and an error it ends with is logged as an unhandled error of this plugin.
    public func runGracefully(
        _ label: String = "service",
        file: String = #fileID,
        line: Int = #line,
        run: @escaping @Sendable () async throws -> Void,
        beginGracefulShutdown: @escaping @Sendable () async -> Void
    ) async throws {
        onShutdown("graceful shutdown of \(label)", file: file, line: line) { await beginGracefulShutdown() }
        try await shutdownWaitsFor(label, file: file, line: line, run)
    }
}

extension PluginContext {
    /// ``runGracefully(_:file:line:run:beginGracefulShutdown:)`` for a plugin exported with
    /// ``PluginReadiness/whenReported`` (API 2.1): `run` receives a function to call once the
    /// service serves (Hummingbird's `onServerRunning`, say), which calls ``reportReady()``.
    ///
    ///     try await context.runGracefully(
    ///         run: { ready in try await app.run(onServerRunning: { _ in ready() }) },
    ///         beginGracefulShutdown: { group.triggerGracefulShutdown() }
    ///     )
    public func runGracefully(
        _ label: String = "service",
        file: String = #fileID,
        line: Int = #line,
        run: @escaping @Sendable (_ ready: @escaping @Sendable () -> Void) async throws -> Void,
        beginGracefulShutdown: @escaping @Sendable () async -> Void
    ) async throws {
        let ready: @Sendable () -> Void = { [self] in reportReady() }
        try await runGracefully(
            label,
            file: file,
            line: line,
            run: { try await run(ready) },
            beginGracefulShutdown: beginGracefulShutdown
        )
    }
}
