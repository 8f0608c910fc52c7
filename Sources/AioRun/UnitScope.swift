@_spi(AioRunRuntime) import AioRunPluginAPI

/// How far a unit's teardown has gone. Work started in a later phase is treated accordingly.
enum UnitPhase: Int, Comparable, Sendable {
    case running, callbacks, callbacksDone, cancelling, stopped
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a unit reports to its manager.
struct UnitEvents: Sendable {
    /// An error that no caller will see: unhandled. Arguments: plugin, what failed, the error.
    let unhandled: @Sendable (String, String, any Error) -> Void
    /// A plugin asked for shutdown. Arguments: plugin, reason.
    let requestShutdown: @Sendable (String, String) -> Void
    /// Something worth a warning that is not an error. Arguments: plugin, message.
    let warn: @Sendable (String, String) -> Void
    /// The unit said it is ready (README, "Readiness and ordered start"); once per unit.
    var ready: @Sendable (UnitScope) -> Void = { _ in }
    /// The unit failed while running: its `run()` threw (what: `task "run()"`), or it called
    /// `reportFailure` (what: `reportFailure`) (README, "Restart on failure"). Arguments: the
    /// unit, what failed, the error, and whether the unit had said it was ready when it failed
    /// (a readiness reported right after the failure must not turn a failed start into a failure
    /// after ready).
    var failed: @Sendable (UnitScope, String, any Error, Bool) -> Void = { _, _, _, _ in }
    /// The unit asked to stop the host because of an error (API 2.2). Arguments: plugin, error.
    var stop: @Sendable (String, any Error) -> Void = { _, _ in }
    /// An `onShutdown` callback threw during teardown; `nil` reports it through ``unhandled``.
    /// Arguments: plugin, what failed, the error.
    var callbackFailed: (@Sendable (String, String, any Error) -> Void)?
}

/// One plugin's (or the `run {}` program's) share of the lifecycle manager: its tracked tasks,
/// shields, shutdown callbacks and executor pool. It implements the API's ``LifecycleScope``.
final class UnitScope: LifecycleScope {
    private struct State {
        var phase = UnitPhase.running
        var tasks = TrackedTable()
        var shields = TrackedTable()
        var callbacks: [(label: String, run: @Sendable () async throws -> Void)] = []
        var runningCallback: (label: String, since: ContinuousClock.Instant)?
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var context: PluginContext?
        /// How many tasks, shields and callbacks plugin code started after the unit stopped.
        var startsAfterStop = 0
        /// Whether the unit is ready (README, "Readiness and ordered start").
        var ready = false
        /// Whether the host is draining (from the first shutdown trigger on).
        var draining = false
        /// How many failures this instance reported.
        var failures = 0
        /// How its teardown went where its work ran, if elsewhere (README, "Isolation").
        var remoteTeardown: RemoteTeardown?

        var isIdle: Bool { tasks.isEmpty && shields.isEmpty }

        mutating func takeIdleWaitersIfIdle() -> [CheckedContinuation<Void, Never>] {
            guard isIdle else { return [] }
            defer { idleWaiters = [] }
            return idleWaiters
        }
    }

    /// The unit's name (plugin name or alias).
    let name: String
    /// The unit's executor pool. The manager does not reach into it: it calls the phases below
    /// and ``abandon()``.
    let pool: ExecutorPool
    /// This unit's time limit for teardown phases 1–4.
    let shutdownTimeout: Duration
    private let events: UnitEvents
    private let state = LockedValue(State())

    init(name: String, executorWorkers: Int, shutdownTimeout: Duration, events: UnitEvents) {
        self.name = name
        self.shutdownTimeout = shutdownTimeout
        self.events = events
        self.pool = ExecutorPool(owner: name, maxWorkers: executorWorkers) { what, error in
            events.unhandled(name, what, error)
        }
    }

    /// Binds the context that the unit's tasks see as `PluginContext.current`.
    func attach(_ context: PluginContext) {
        state.withLock { $0.context = context }
    }

    var executorWorkers: Int { pool.maxWorkers }

    // MARK: - Readiness and failure (README, "Readiness and ordered start", "Restart on failure")

    func reportReady() {
        let first = state.withLock { state -> Bool in
            guard !state.ready, state.phase == .running else { return false }
            state.ready = true
            return true
        }
        if first { events.ready(self) }
    }

    func reportFailure(_ error: any Error) {
        failed("reportFailure", error)
    }

    /// A failure while running goes to the manager once per instance; later ones (a plugin that
    /// reports from many tasks at once, before or during the teardown that follows) are logged at
    /// powers of two, with their count, so they neither flood the log nor pass silently. A first
    /// failure during teardown is only logged.
    private func failed(_ what: String, _ error: any Error) {
        let (running, count, wasReady) = state.withLock { state -> (Bool, Int, Bool) in
            state.failures += 1
            return (state.phase == .running, state.failures, state.ready)
        }
        if count == 1 {
            if running {
                events.failed(self, what, error, wasReady)
            } else {
                events.warn(name, "\(what) during teardown: \(error)")
            }
        } else if count & (count - 1) == 0 {
            events.warn(
                name,
                "\(what) again (\(count) failures of this instance so far; logged at powers of two): \(error)"
            )
        }
    }

    var isReady: Bool { state.withLock { $0.ready } }

    var isDraining: Bool { state.withLock { $0.draining || $0.phase > .running } }

    /// Marks a unit that is ready at start as ready, without an event: the manager knows.
    func markReady() {
        state.withLock { $0.ready = true }
    }

    /// The host started draining: ``isDraining`` is true from now on.
    func markDraining() {
        state.withLock { $0.draining = true }
    }

    /// Starts the unit's main as its `run()` task, from the control thread. An error it throws
    /// while the unit runs is a failure for the manager to judge (``UnitEvents/failed``); once
    /// teardown has begun it is an unhandled error, as from any tracked task.
    func startMain(_ main: @escaping @Sendable () async throws -> Void) {
        spawn(label: "run()", fromControlThread: true) { [self] in
            do {
                try await main()
            } catch  where !(error is CancellationError) && state.withLock({ $0.phase == .running }) {
                failed("task \"run()\"", error)
            }
        }
    }

    // MARK: - LifecycleScope

    func spawn(label: String, operation: @escaping @Sendable () async throws -> Void) {
        spawn(label: label, fromControlThread: false, operation: operation)
    }

    /// Starts a tracked task. From plugin code the task simply inherits the caller's task-locals
    /// (the context is bound only when it is not already current). From the manager's control
    /// thread (`run()`), the task is detached, so it runs on the cooperative pool with no
    /// executor preference.
    func spawn(label: String, fromControlThread: Bool, operation: @escaping @Sendable () async throws -> Void) {
        enum Outcome {
            case refused(Int)
            case started
            case startedAfterCancel(Task<Void, Never>)
        }
        let outcome = state.withLock { state -> Outcome in
            guard state.phase < .stopped else {
                state.startsAfterStop += 1
                return .refused(state.startsAfterStop)
            }
            let id = state.tasks.insert(Tracked(label: label, since: .now))
            let bind = PluginContext.current !== state.context ? state.context : nil
            var bound = operation
            if let bind {
                bound = { try await PluginContext.$current.withValue(bind) { try await operation() } }
            }
            // Detached from the control thread: no executor preference to inherit or pay for, so
            // the plugin's tasks run on the cooperative pool like any other.
            let task = startTracked(id: id, detached: fromControlThread, operation: bound)
            state.tasks.setTask(task, for: id)
            return state.phase >= .cancelling ? .startedAfterCancel(task) : .started
        }
        switch outcome {
        case .refused(let count):
            warnAfterStop(count, "task \"\(label)\" was not started: the plugin has already stopped")
        case .startedAfterCancel(let task):
            // Outside the lock: cancelling runs the task's handlers, which may call back in.
            task.cancel()
        case .started:
            break
        }
    }

    /// Starts the task of a tracked operation. Its shape is deliberate, because its frames live
    /// in every tracked task for as long as the task runs, next to the plugin's own frames and the
    /// inherited task-locals, and all of them share the task allocator's first slab (about 1 KB)
    /// until it overflows and the task pays for a second one:
    /// - The closure is a literal at `Task`'s call site. Passing a closure value instead costs
    ///   three reabstraction thunks (to `@isolated(any)`, to `@out ()`) of two frames each.
    /// - The label and the error's kind are looked up in `finish`, not captured or tested here.
    /// With either, 100k tracked tasks sleeping an hour peaked at about 360 MB instead of 230 MB.
    private func startTracked(
        id: Int,
        detached: Bool,
        operation: @escaping @Sendable () async throws -> Void
    ) -> Task<Void, Never> {
        if detached {
            return Task.detached { [self] in
                do {
                    try await operation()
                    finish(task: id)
                } catch {
                    finish(task: id, failure: error)
                }
            }
        }
        return Task { [self] in
            do {
                try await operation()
                finish(task: id)
            } catch {
                finish(task: id, failure: error)
            }
        }
    }

    /// Tracks a new shield: its ID (none when the unit has stopped: nothing tracks it then, and
    /// that is warned about), and the context to bind when the caller's is not this unit's.
    private func trackShield(_ label: String) -> (id: Int?, bind: PluginContext?) {
        let (id, context, lateCount) = state.withLock { state -> (Int?, PluginContext?, Int) in
            guard state.phase < .stopped else {
                state.startsAfterStop += 1
                return (nil, state.context, state.startsAfterStop)
            }
            return (state.shields.insert(Tracked(label: label, since: .now)), state.context, 0)
        }
        if id == nil {
            warnAfterStop(lateCount, "shield \"\(label)\" started after the plugin stopped; nothing will wait for it")
        }
        return (id, PluginContext.current !== context ? context : nil)
    }

    /// Runs shielded work, with `bind` as `PluginContext.current` when given, and returns how it
    /// ended.
    private static func outcome<T: Sendable>(
        of operation: @escaping @Sendable () async throws -> T,
        boundTo bind: PluginContext?
    ) async -> Result<T, any Error> {
        do {
            if let bind {
                return .success(try await PluginContext.$current.withValue(bind) { try await operation() })
            }
            return .success(try await operation())
        } catch {
            return .failure(error)
        }
    }

    func shield<T: Sendable>(label: String, operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let handoff = Handoff<T>()
        let (id, bind) = trackShield(label)
        // Unstructured, so the caller's cancellation never reaches it; it inherits the caller's
        // task-locals (and executor preference: shields are started from plugin code).
        Task {
            let result = await Self.outcome(of: operation, boundTo: bind)
            if !handoff.deliver(result), case .failure(let error) = result, !(error is CancellationError) {
                self.events.unhandled(self.name, "shield \"\(label)\" (its caller had gone)", error)
            }
            if let id { self.finish(shield: id) }
        }
        return try await handoff.wait()
    }

    func onShutdown(label: String, callback: @escaping @Sendable () async throws -> Void) {
        enum Registration {
            case queued
            case late(id: Int?, context: PluginContext?, lateCount: Int)
        }
        let shieldLabel = "late onShutdown \"\(label)\""
        // One lock for the phase check and the tracking: teardown's phase 3 can never see the
        // unit idle between the two (see README, Deviations: "onShutdown registered after phase 1").
        let registration = state.withLock { state -> Registration in
            if state.phase == .running || state.phase == .callbacks {
                state.callbacks.append((label, callback))
                return .queued
            }
            guard state.phase < .stopped else {
                state.startsAfterStop += 1
                return .late(id: nil, context: state.context, lateCount: state.startsAfterStop)
            }
            return .late(
                id: state.shields.insert(Tracked(label: shieldLabel, since: .now)),
                context: state.context,
                lateCount: 0
            )
        }
        guard case .late(let id, let context, let lateCount) = registration else { return }
        if id == nil {
            warnAfterStop(
                lateCount,
                "onShutdown \"\(label)\" registered after the plugin stopped; it runs, but nothing waits for it"
            )
        }
        // Teardown already ran the callbacks: run this one now, as a shield that is already
        // tracked, so a server that registers its drain late still drains instead of being cut.
        let bind = PluginContext.current !== context ? context : nil
        Task {
            do {
                if let bind {
                    try await PluginContext.$current.withValue(bind) { try await callback() }
                } else {
                    try await callback()
                }
            } catch is CancellationError {
            } catch {
                self.events.unhandled(self.name, "onShutdown \"\(label)\" (registered after teardown began)", error)
            }
            if let id { self.finish(shield: id) }
        }
    }

    /// Warns about work that plugin code started after the unit stopped, without flooding the
    /// log: the 1st, 2nd, 4th, 8th… such start is logged, with the count so far, so that 64k stuck
    /// tasks starting work in a loop make a few dozen lines, and the count is never hidden.
    private func warnAfterStop(_ count: Int, _ message: String) {
        guard count > 0, count & (count - 1) == 0 else { return }
        let tally = count == 1 ? "" : " (\(count) starts after the stop so far; logged at powers of two)"
        events.warn(name, message + tally)
    }

    func requestShutdown(reason: String) {
        events.requestShutdown(name, reason)
    }

    func requestShutdown(error: any Error) {
        events.stop(name, error)
    }

    /// Shielded work with a handle (API 2.2): tracked as a shield from this call on, so that a
    /// teardown that starts right after it still waits for it (README, "In-process use").
    func startShield<T: Sendable>(
        label: String,
        operation: @escaping @Sendable () async throws -> T
    ) -> ShieldedTask<T> {
        let (id, bind) = trackShield(label)
        let outcome = ShieldOutcome<T>()
        // Unstructured and never cancelled by the runtime: only the handle's cancel() reaches it.
        let work = Task {
            let result = await Self.outcome(of: operation, boundTo: bind)
            if !outcome.deliver(result), case .failure(let error) = result, !(error is CancellationError) {
                self.events.unhandled(self.name, "shield \"\(label)\" (nobody awaited its value)", error)
            }
            if let id { self.finish(shield: id) }
        }
        return ShieldedTask(
            cancel: { work.cancel() },
            isCancelled: { work.isCancelled },
            value: { try await outcome.wait() }
        )
    }

    func runBlocking<T: Sendable>(label: String, job: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.submit(label: label, job)
    }

    // MARK: - Bookkeeping

    private func finish(task id: Int) { finish(id, in: \.tasks) }

    /// A tracked task ended with an error: reported as unhandled unless it is a cancellation.
    private func finish(task id: Int, failure: any Error) {
        if !(failure is CancellationError) {
            let label = state.withLock { $0.tasks.work(id)?.label } ?? "?"
            events.unhandled(name, "task \"\(label)\"", failure)
        }
        finish(task: id)
    }

    private func finish(shield id: Int) { finish(id, in: \.shields) }

    /// Removes finished work from its table and wakes phase 3 if nothing is left.
    private func finish(_ id: Int, in table: WritableKeyPath<State, TrackedTable>) {
        let waiters = state.withLock { state in
            state[keyPath: table].remove(id)
            return state.takeIdleWaitersIfIdle()
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Teardown phases (README, "How shutdown proceeds"), called by the manager in order

    /// Phase 1: runs the `onShutdown` callbacks in registration order, one at a time, while the
    /// unit's work still runs. A callback registered meanwhile runs too. Errors are reported.
    func runShutdownCallbacks() async {
        state.withLock { $0.phase = max($0.phase, .callbacks) }
        while true {
            let next = state.withLock {
                state -> (label: String, run: @Sendable () async throws -> Void, context: PluginContext?)? in
                guard !state.callbacks.isEmpty else {
                    state.runningCallback = nil
                    // From now on a new callback takes the late path (run at once, shielded)
                    // instead of waiting in a list nobody reads any more.
                    state.phase = max(state.phase, .callbacksDone)
                    return nil
                }
                let callback = state.callbacks.removeFirst()
                state.runningCallback = (callback.label, .now)
                return (callback.label, callback.run, state.context)
            }
            guard let next else { return }
            // Plugin code runs on the cooperative pool, never on the control thread.
            let callback = Task.detached {
                try await PluginContext.$current.withValue(next.context) { try await next.run() }
            }
            do {
                try await callback.value
            } catch {
                (events.callbackFailed ?? events.unhandled)(name, "onShutdown \"\(next.label)\"", error)
            }
        }
    }

    /// Phase 2: cancels `run()` and every tracked task, but not the shields. Tasks spawned from
    /// now on start cancelled.
    func cancelTasks() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.phase = max(state.phase, .cancelling)
            // In creation order, not a hash order: tasks created one after another lie near each
            // other in memory, and cancelling 100k of them in random order was 3× slower from
            // cache and TLB misses alone (measured in isolation: 80 ms vs 260 ms).
            return state.tasks.tasks
        }
        for task in tasks { task.cancel() }
    }

    /// Phase 2 as the teardown runs it: ``cancelTasks()`` on a thread of its own, because
    /// cancellation handlers are plugin code and run on the cancelling thread (see ``OwnThread``).
    func cancelTasksOnOwnThread() async {
        await OwnThread.run("aiorun-cancel") { self.cancelTasks() }
    }

    /// Phase 3: waits until no tracked task and no shield is left, including shields started
    /// during this teardown.
    func waitForTasksAndShields() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.isIdle { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Phase 4: drains the executor pool and joins its threads.
    func drainExecutor() async {
        await pool.drain()
    }

    /// After the time limit expired: cancels the unit's tasks on a thread of its own without
    /// waiting for their handlers, and abandons its executor pool (queued jobs are refused, running
    /// ones are left to their threads). See README, "How shutdown proceeds".
    func abandon() {
        OwnThread.start("aiorun-cancel") { self.cancelTasks() }
        pool.abandon()
    }

    /// Marks the unit stopped: later `spawn` calls are refused with a warning.
    func markStopped() {
        state.withLock { $0.phase = .stopped }
    }

    /// Records how its teardown went where its work ran; see
    /// ``LifecycleManager/recordRemoteTeardown(of:_:)``.
    func recordRemoteTeardown(_ teardown: RemoteTeardown) {
        state.withLock { $0.remoteTeardown = teardown }
    }

    /// `report` with the phases and abandoned work of the teardown where its work ran, if any:
    /// an expiry here (the host's own time limit) is kept.
    func withRemoteTeardown(_ report: UnitTeardownReport) -> UnitTeardownReport {
        guard let remote = state.withLock({ $0.remoteTeardown }), report.expiredIn == nil else { return report }
        var merged = report
        if !remote.phaseTimes.isEmpty { merged.phaseTimes = remote.phaseTimes }
        merged.expiredIn = remote.expiredIn
        merged.abandoned = WorkSummary(count: remote.abandonedCount, describedAs: remote.abandonedDescription)
        return merged
    }

    /// Everything still running in this unit, summarised in one pass (see ``WorkSummary``): for
    /// time-limit expiry lines, progress lines and reports.
    func stillRunningSummary() -> WorkSummary {
        let now = ContinuousClock.now
        var summary = state.withLock { state in
            var summary = WorkSummary()
            if let callback = state.runningCallback {
                summary.add(.callback, callback.label, age: now - callback.since)
            }
            state.tasks.summarise(as: .task, into: &summary, now: now)
            state.shields.summarise(as: .shield, into: &summary, now: now)
            return summary
        }
        for job in pool.snapshot(now: now) {
            summary.add(job.kind, job.label, age: job.age)
        }
        return summary
    }

    /// Everything still running in this unit, for reports.
    func stillRunning() -> [RunningWork] {
        let now = ContinuousClock.now
        let own = state.withLock { state -> [RunningWork] in
            var work: [RunningWork] = []
            if let callback = state.runningCallback {
                work.append(RunningWork(kind: .callback, label: callback.label, age: now - callback.since))
            }
            work += state.tasks.oldestFirst
                .map { RunningWork(kind: .task, label: $0.label, age: now - $0.since) }
            work += state.shields.oldestFirst
                .map { RunningWork(kind: .shield, label: $0.label, age: now - $0.since) }
            return work
        }
        return own + pool.snapshot(now: now)
    }
}
