/// Shielded work with a handle, like the future aiorun's `shutdown_waits_for` gives back (API 2.2;
/// README, "In-process use").
///
/// Made by ``PluginContext/startShield(_:file:line:_:)`` or the free function
/// ``startShield(_:file:line:_:)``. The work starts at once and is tracked as a shield: shutdown
/// does not cancel it, and the plugin's teardown waits for it (within its time limit). Two ways
/// to end it early differ on purpose:
/// - a caller of ``value`` that is cancelled (by shutdown or otherwise) gets `CancellationError`
///   at once while the work runs on, as with ``shutdownWaitsFor(_:file:line:_:)``;
/// - ``cancel()`` cancels the work itself: an explicit cancel pierces the shield, as an explicit
///   `cancel()` of aiorun's proxy task does, and callers of ``value`` get what the work ends with
///   (usually `CancellationError`).
///
/// An error the work throws while no caller of ``value`` waits for it is logged with the label.
public final class ShieldedTask<Success: Sendable>: Sendable {
    private let cancelWork: @Sendable () -> Void
    private let workIsCancelled: @Sendable () -> Bool
    private let waitForValue: @Sendable () async throws -> Success

    /// Creates a handle over the runtime's work. Runtime only.
    @_spi(AioRunRuntime)
    public init(
        cancel: @escaping @Sendable () -> Void,
        isCancelled: @escaping @Sendable () -> Bool,
        value: @escaping @Sendable () async throws -> Success
    ) {
        cancelWork = cancel
        workIsCancelled = isCancelled
        waitForValue = value
    }

    /// The work's result or error. Several callers may wait, at any time, also after the work has
    /// ended. A caller that is cancelled gets `CancellationError` at once; the work runs on.
    public var value: Success {
        get async throws { try await waitForValue() }
    }

    /// Cancels the work itself: it sees `Task.isCancelled` and `CancellationError` from its
    /// awaits, like any cancelled task. Shutdown never does this; only an explicit call does.
    public func cancel() {
        cancelWork()
    }

    /// Whether ``cancel()`` has been called.
    public var isCancelled: Bool { workIsCancelled() }
}

extension PluginContext {
    /// Starts `operation` as shielded work and returns its handle at once; see ``ShieldedTask``.
    /// Use it when the work may have to be stopped on purpose; ``shutdownWaitsFor(_:file:line:_:)``
    /// when it never has to (API 2.2).
    public func startShield<T: Sendable>(
        _ label: String? = nil,
        file: String = #fileID,
        line: Int = #line,
        _ operation: @escaping @Sendable () async throws -> T
    ) -> ShieldedTask<T> {
        scope.startShield(label: label ?? "\(file):\(line)", operation: operation)
    }

    /// Stops the host (or the `run {}` program) because of `error` (API 2.2): the shutdown runs as
    /// for ``requestShutdown(reason:)``, the error is logged, and the exit code is 3 (README, "Exit
    /// codes"); a program run with `runUntilShutdown` gets `error` thrown back. Like
    /// ``requestShutdown(reason:)``, only the first trigger counts.
    public func requestShutdown(error: any Error) {
        scope.requestShutdown(error: error)
    }
}
