import AioRunPluginAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A test fixture that misbehaves as config `mode` says, after `delay-ms` (default 100):
/// - `throw-run`: `run()` throws.
/// - `throw-task`: a spawned task throws.
/// - `ignore-cancel`: a tracked task labelled "spin" never ends, whatever cancellation says.
/// - `request-shutdown`: calls `requestShutdown`.
/// - `shield-throws`: `run()` awaits a shield that throws after its caller was cancelled.
/// - `late-shield`: when cancelled, starts a shield that sleeps `delay-ms` and prints
///   `late shield done` (a shield started during teardown must be waited for).
/// - `block-pool`: eight tracked tasks block their threads with a synchronous `delay-ms` sleep,
///   more than the cooperative pool has threads.
/// - `callback-throws` / `callback-hangs`: its `onShutdown` callback throws, or never returns.
/// - `job-throws`: a tracked task awaits an executor job that throws, and does not catch it.
/// - `blocking-cancel-handler`: `run()`'s cancellation handler blocks its thread for `delay-ms`.
/// - `init-throws`: the initializer throws.
/// - `drain-late-work`: a tracked task awaits an executor job that runs `delay-ms` (its caller is
///   cancelled in phase 2; the job runs on into phase 4, the drain) and then registers an
///   `onShutdown` callback that sleeps 300 ms and prints `drain-late callback done`.
/// - `late-callback`: when `run()` is cancelled (phase 2, after phase 1 ran), it keeps the
///   cooperative pool busy for `busy-ms` (default 50) with untracked synchronous sleeps, then
///   registers an `onShutdown` callback that sleeps `delay-ms` and prints `late callback done`.
/// - `stubborn-tasks`: spawns `count` (default 65536) tracked tasks labelled `stubborn 0` to
///   `stubborn 3` that never end, whatever cancellation says. With `style=wake` (default) each
///   wakes every 50 ms (a sleep in a detached task, which cancellation does not reach); with
///   `style=spin` each loops on `try? await Task.sleep`, which once cancelled returns at once:
///   such a task keeps its pool thread busy for good; with `style=shield` each starts a 50 ms
///   shield in a loop (once cancelled, a new one at once). Prints `stubborn tasks started` once all
///   are spawned.
/// - `exit-in-run`: `run()` calls `exit(exit-code)` (default 0) after `delay-ms`.
/// - `quiet` (default): does nothing but log "faulty ready".
///
/// Readiness and restart modes (API 2.1; README, "Readiness and ordered start", "Restart on
/// failure"). Each `run()` of these logs `faulty run started (instance N)` first, where N counts
/// this plugin name's instances in this process (1 for the first, 2 for the first restart, …):
/// - `ready-after`: reports ready after `delay-ms` (logs `faulty reported ready (instance N)`),
///   then runs until cancelled.
/// - `never-ready`: never reports ready; runs until cancelled.
/// - `throw-before-ready`: throws `boom before ready (instance N)` after `delay-ms`, unready.
/// - `fail-times`: instances 1 to `fail-count` (default 2) throw
///   `boom in instance N of fail-count` after `delay-ms`, before reporting ready, or after it with
///   `fail-after-ready=true`. Later instances report ready, log `faulty working (instance N)` and
///   run until cancelled. The count lives in a process global, since a restart reuses the loaded
///   library.
/// - `report-failure`: like `fail-times`, but a failing instance reports ready, then after
///   `delay-ms` calls `reportFailure` with `listener died in instance N of fail-count` and
///   runs on until cancelled (logging `faulty reported failure (instance N)`).
/// Other modes report ready first thing in `run()`, so they behave as before whatever the
/// readiness.
///
/// The library exports readiness `atStart` unless `AIORUN_FAULTY_READINESS=reported` says
/// `whenReported` (read in the entry, like the name, since readiness is per library).
/// With `init-delay-ms`, the initializer logs `faulty initializing` and blocks that long first
/// (to send signals while plugins load).
/// Its name is `faulty` unless `AIORUN_FAULTY_NAME` says otherwise (to test name checks).
final class FaultyPlugin: AioRunPlugin {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let context: PluginContext
    let mode: String
    let delay: Duration

    init(context: PluginContext) throws {
        self.context = context
        mode = context.config.string("mode", default: "quiet")
        delay = .milliseconds(try context.config.int("delay-ms", default: 100, in: 0...3_600_000))
        if mode == "init-throws" { throw Failure(description: "faulty refuses to start (mode=init-throws)") }
        let initDelay = try context.config.int("init-delay-ms", default: 0, in: 0...600_000)
        if initDelay > 0 {
            context.log.info("faulty initializing")
            var pause = timespec(tv_sec: initDelay / 1000, tv_nsec: (initDelay % 1000) * 1_000_000)
            nanosleep(&pause, nil)
        }
    }

    func run() async throws {
        let (context, delay) = (self.context, self.delay)
        if let readinessMode = ReadinessMode(rawValue: mode) {
            try await runReadinessMode(readinessMode)
            return
        }
        context.reportReady()
        context.log.info("faulty ready", metadata: ["mode": mode])
        switch mode {
        case "throw-run":
            try await Task.sleep(for: delay)
            throw Failure(description: "boom in run()")
        case "throw-task":
            context.spawn("doomed task") {
                try await Task.sleep(for: delay)
                throw Failure(description: "boom in a spawned task")
            }
        case "ignore-cancel":
            context.spawn("spin") {
                while true { try? await Task.sleep(for: .milliseconds(50)) }
            }
        case "request-shutdown":
            try await Task.sleep(for: delay)
            context.requestShutdown(reason: "faulty asked to stop")
        case "shield-throws":
            try await context.shutdownWaitsFor("failing shield") {
                try? await Task.sleep(for: delay)
                throw Failure(description: "boom in a shield whose caller had gone")
            }
        case "late-shield":
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                _ = try? await context.shutdownWaitsFor("late shield") {
                    try? await Task.sleep(for: delay)
                    print("late shield done")
                }
            }
        case "block-pool":
            let millis = Int(delay.components.seconds * 1000)
            for index in 0..<8 {
                context.spawn("blocker \(index)") {
                    var pause = timespec(tv_sec: millis / 1000, tv_nsec: (millis % 1000) * 1_000_000)
                    nanosleep(&pause, nil)
                }
            }
        case "blocking-cancel-handler":
            let millis = Int(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
            await withTaskCancellationHandler {
                try? await Task.sleep(for: .seconds(3600))
            } onCancel: {
                var pause = timespec(tv_sec: millis / 1000, tv_nsec: (millis % 1000) * 1_000_000)
                nanosleep(&pause, nil)
            }
        case "callback-throws":
            context.onShutdown("throwing callback") { throw Failure(description: "boom in onShutdown") }
        case "callback-hangs":
            context.onShutdown("hanging callback") {
                while true { try? await Task.sleep(for: .milliseconds(50)) }
            }
        case "late-callback":
            let busy = try context.config.int("busy-ms", default: 50, in: 0...60_000)
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                // Untracked on purpose: they only keep every pool thread busy for a moment.
                for _ in 0..<max(2, 2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) {
                    Task.detached {
                        var pause = timespec(tv_sec: busy / 1000, tv_nsec: (busy % 1000) * 1_000_000)
                        nanosleep(&pause, nil)
                    }
                }
                context.onShutdown("late callback") {
                    try? await Task.sleep(for: delay)
                    print("late callback done")
                }
            }
        case "stubborn-tasks":
            let count = try context.config.int("count", default: 65536, in: 1...1_000_000)
            let style = context.config.string("style", default: "wake")
            for index in 0..<count {
                context.spawn("stubborn \(index % 4)") {
                    while true {
                        if style == "spin" {
                            try? await Task.sleep(for: .milliseconds(50))
                        } else if style == "shield" {
                            try? await context.shutdownWaitsFor("stubborn shield") {
                                try? await Task.sleep(for: .milliseconds(50))
                            }
                        } else {
                            try? await Task.detached { try await Task.sleep(for: .milliseconds(50)) }.value
                        }
                    }
                }
            }
            print("stubborn tasks started")
        case "exit-in-run":
            let code = try context.config.int("exit-code", default: 0, in: 0...255)
            try await Task.sleep(for: delay)
            exit(Int32(code))
        case "drain-late-work":
            let millis = UInt32(
                clamping: delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
            )
            context.spawn("awaits slow job") {
                try await context.executor.run("slow job") {
                    usleep(millis * 1000)
                    context.onShutdown("registered during drain") {
                        try? await Task.sleep(for: .milliseconds(300))
                        print("drain-late callback done")
                    }
                }
            }
            print("drain-late work started")
        case "job-throws":
            context.spawn("awaits failing job") {
                try await context.executor.run("failing job") { throw Failure(description: "boom in an executor job") }
            }
        default:
            break
        }
    }
}

/// The modes about readiness and restarts (see the type's comment).
enum ReadinessMode: String {
    case readyAfter = "ready-after"
    case neverReady = "never-ready"
    case throwBeforeReady = "throw-before-ready"
    case failTimes = "fail-times"
    case reportFailure = "report-failure"
}

extension FaultyPlugin {
    /// Counts the instances of each plugin name that have run in this process: a restart creates
    /// a fresh instance from the library that stays loaded, so only a global outlives it.
    static let instances = Mutex<[String: Int]>([:])

    /// Runs one of the ``ReadinessMode``s.
    func runReadinessMode(_ readinessMode: ReadinessMode) async throws {
        let (context, delay) = (self.context, self.delay)
        let instance = Self.instances.withLock { counts in
            counts[context.name, default: 0] += 1
            return counts[context.name, default: 0]
        }
        let failCount = try context.config.int("fail-count", default: 2, in: 0...1_000_000)
        let failAfterReady = context.config.string("fail-after-ready", default: "false") == "true"
        context.log.info("faulty run started (instance \(instance))", metadata: ["mode": mode])
        switch readinessMode {
        case .readyAfter:
            try await Task.sleep(for: delay)
            context.reportReady()
            context.log.info("faulty reported ready (instance \(instance))")
        case .neverReady:
            break
        case .throwBeforeReady:
            try await Task.sleep(for: delay)
            throw Failure(description: "boom before ready (instance \(instance))")
        case .failTimes:
            if instance <= failCount {
                if failAfterReady {
                    context.reportReady()
                    context.log.info("faulty reported ready (instance \(instance))")
                }
                try await Task.sleep(for: delay)
                throw Failure(description: "boom in instance \(instance) of \(failCount)")
            }
            context.reportReady()
            context.log.info("faulty working (instance \(instance))")
        case .reportFailure:
            context.reportReady()
            context.log.info("faulty reported ready (instance \(instance))")
            if instance <= failCount {
                try await Task.sleep(for: delay)
                context.reportFailure(Failure(description: "listener died in instance \(instance) of \(failCount)"))
                context.log.info("faulty reported failure (instance \(instance))")
            } else {
                context.log.info("faulty working (instance \(instance))")
            }
        }
        // Runs until cancelled (shutdown or restart); CancellationError is not a failure.
        try await Task.sleep(for: .seconds(3600 * 24))
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    let name = getenv("AIORUN_FAULTY_NAME").map { String(cString: $0) } ?? "faulty"
    let reported = getenv("AIORUN_FAULTY_READINESS").map { String(cString: $0) } == "reported"
    return aiorunExportPlugin(
        hostABI: hostABI,
        pluginABI: pluginABI,
        name: name,
        readiness: reported ? .whenReported : .atStart
    ) { try FaultyPlugin(context: $0) }
}
