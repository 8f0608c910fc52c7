@_spi(AioRunRuntime) import AioRunPluginAPI

/// The errors a returning runner throws (README, "In-process use"): the one that caused the stop
/// wins over a shutdown callback's, as in aiorun, where a callback's exception is only logged
/// when a loop exception is pending.
struct StopErrors: Sendable {
    /// The error that stopped the manager: given to `requestShutdown(error:)`, or the unhandled
    /// error that stopped it under `--stop-on-unhandled-errors`. Only the first trigger's.
    var cause: (any Error)?
    /// The first error an `onShutdown` callback threw during teardown.
    var callback: (any Error)?

    /// What the runner throws, if anything.
    var thrown: (any Error)? { cause ?? callback }
}

/// The first SIGINT/SIGTERM, stopping with an error, and the end of a returning run (README,
/// "In-process use").
extension LifecycleManager {
    /// The first SIGINT/SIGTERM: runs the program's shutdown handler, if it has one, as a tracked
    /// task of the first unit (so that it can call `requestShutdown`); else fires the trigger.
    /// Once a trigger has fired the signal changes nothing, as before; a second one still forces
    /// the exit.
    func received(firstSignal name: String, number: Int32) {
        if let reason = options.ignoresFirstSignal {
            logger.notice("\(name) received and ignored: \(reason); a second SIGINT/SIGTERM forces the exit")
            return
        }
        guard let handler = options.shutdownHandler, latch.fired == nil,
            let unit = units.withLock({ $0.first?.live })
        else {
            latch.fire(.signal(name: name, number: number))
            return
        }
        logger.notice(
            "\(name) received: running the program's shutdown handler; a second SIGINT/SIGTERM forces the exit"
        )
        unit.spawn(label: "shutdown handler (\(name))") {
            try await handler(ShutdownSignal(name: name, number: number))
        }
    }

    /// A unit called `requestShutdown(error:)`: the first trigger stops the manager with exit
    /// code 3 and keeps `error` for a returning runner.
    func stop(plugin: String, error: any Error) {
        if latch.fire(.stoppedWithError(plugin: plugin, error: "\(error)")) {
            stopErrors.withLock { $0.cause = error }
            logger.error("stopping because of an error: \(error)", metadata: ["plugin": "\(plugin)"])
        } else {
            logger.warning(
                "requestShutdown(error: \(error)) after the shutdown had started: logged only",
                metadata: ["plugin": "\(plugin)"]
            )
        }
    }

    /// Ends the signal loop and the periodic check, waits until both have ended (the signal
    /// sources go with the loop), then restores the dispositions the manager found. Once.
    func releaseSignals() async {
        let tasks = signalTasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        guard !tasks.isEmpty else { return }
        finished.store(true, ordering: .relaxed)
        for task in tasks {
            task.cancel()
            await task.value
        }
        SignalDispositions.release()
    }
}
