import AioRun
import Logging

extension Host {
    /// Loads, checks and creates the plugins (``prepare(_:manager:logger:progress:)``) within
    /// `--load-timeout`. Plugin code runs while loading (library constructors, the entry, the
    /// plugins' initializers): on a thread of its own, never the control thread, so that a signal
    /// that arrives meanwhile is seen and said at once, the load time limit holds, and a second
    /// signal still forces the exit (see README, "How shutdown proceeds"). An `exit()` from plugin
    /// code meanwhile is a rejection (``PluginExitGuard``).
    static func loadWithinTimeLimit(
        _ configuration: HostConfiguration,
        manager: LifecycleManager,
        logger: Logger
    ) async -> PrepareResult {
        let progress = LoadProgress()
        PluginExitGuard.install(format: configuration.logFormat, logger: logger)
        PluginExitGuard.enter(.loading(progress))
        let limit = configuration.loadTimeout
        let outcome = await watchLoad(limit: limit, manager: manager, progress: progress, logger: logger) {
            prepare(configuration, manager: manager, logger: logger, progress: progress)
        }
        switch outcome {
        case .expired(let step):
            return .failure(LoadTimeLimitError(step: step, limit: limit).hostError)
        case .finished(let result):
            return result
        }
    }

    /// How loading and creating the plugins ended.
    enum LoadOutcome: Sendable {
        /// `prepare` returned.
        case finished(PrepareResult)
        /// The load time limit expired while `step` was running; `prepare` is still running on
        /// its own thread and is abandoned (the process exits).
        case expired(LoadProgress.Step?)
    }

    /// Runs `prepare` (which runs plugin code) on a thread of its own and waits, on the control
    /// thread, until it returns or `limit` expires. The first shutdown trigger meanwhile (a
    /// signal) is logged at once with what the host is waiting for; the host then still waits
    /// for the load to end or the limit to expire (`prepare` creates no further plugin once a
    /// trigger has fired). A second signal is the signal watcher's and exits at once.
    /// See README, "How shutdown proceeds".
    static func watchLoad(
        limit: Duration,
        manager: LifecycleManager,
        progress: LoadProgress,
        logger: Logger,
        _ prepare: @escaping @Sendable () -> PrepareResult
    ) async -> LoadOutcome {
        enum Event: Sendable {
            case finished(PrepareResult)
            case expired
            case trigger(ShutdownTrigger)
        }
        let deadline = ContinuousClock.now + limit
        let (events, sink) = AsyncStream<Event>.makeStream()
        RuntimeThreads.startOwnThread("aiorun-load") { sink.yield(.finished(prepare())) }
        // ControlClock, not Task.sleep: the timer must fire even if plugin code keeps the
        // cooperative pool busy.
        let timer = RuntimeThreads.controlTask {
            guard (try? await ControlClock.sleep(until: deadline)) != nil else { return }
            sink.yield(.expired)
        }
        // Not cancellable (the trigger latch has no cancellation); once the load has ended, its
        // late event goes into a finished stream and is dropped.
        RuntimeThreads.controlTask { sink.yield(.trigger(await manager.waitForShutdownTrigger())) }
        defer {
            timer.cancel()
            sink.finish()
        }
        for await event in events {
            switch event {
            case .finished(let result):
                return .finished(result)
            case .expired:
                return .expired(progress.step)
            case .trigger(let trigger):
                let seconds = LoadTimeLimitError.seconds
                let waiting =
                    progress.step.map { "\($0.waitingFor), running for \(seconds(.now - $0.since))" }
                    ?? "loading to begin"
                logger.warning(
                    """
                    \(trigger) while plugins load: no plugin will be started; waiting for \(waiting); \
                    the load time limit is \(seconds(limit)) (--load-timeout), \(seconds(deadline - .now)) left; \
                    a second signal exits at once
                    """
                )
            }
        }
        // Not reached: the stream is finished only by this function.
        return .expired(progress.step)
    }
}
