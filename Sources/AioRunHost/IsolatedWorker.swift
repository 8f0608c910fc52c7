import AioRun
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What an isolated plugin's child runs (README, "Isolation"): the host itself with that one
/// plugin, so every rule inside a plugin (shields, pools, time limits) is the one that holds in
/// process. The parent settles everything and passes it as `KEY=VALUE` arguments; the child logs
/// JSON lines to its standard error for the parent to re-emit, speaks to the parent over
/// ``IsolationChannel``, and never restarts or drains by itself: the parent does.
struct IsolatedWorker: Sendable {
    /// The internal child mode's name (see ``InternalChild``).
    static let mode = "worker"

    /// The plugin instance's name (the parent's alias or the plugin's own).
    var name: String
    /// The library's absolute path.
    var path: String
    /// Its config values.
    var config: [String: String] = [:]
    /// Its teardown time limit.
    var shutdownTimeout: Duration
    /// Its startup time limit.
    var startupTimeout: Duration
    /// Its executor pool size.
    var executorWorkers: Int
    /// `--stop-on-unhandled-errors`.
    var stopOnUnhandledErrors = false
    /// The least severe level logged.
    var logLevel = Logger.Level.info
    /// `--allow-insecure-plugins`.
    var allowInsecurePlugins = false
    /// The time limit for loading and creating the plugin.
    var loadTimeout: Duration
    /// Its open-files limit, if any (set before the plugin is loaded).
    var openFilesLimit: Int?
    /// Whether its host restarts it on failure: then a failure after ready ends the child (the
    /// host restarts it in a fresh one) instead of being an unhandled error it runs on with.
    var restartsOnFailure = false
    /// Whether it loads and creates its plugin, says `CREATED`, and then waits for the host's
    /// `START` before running it (a first instance, started while the host loads: README,
    /// "Isolation"); a restarted one starts at once.
    var holdsBeforeStart = false

    /// The arguments that carry this description to the child.
    var arguments: [String] {
        var arguments = [
            "name=\(name)", "path=\(path)", "shutdown-timeout=\(Self.seconds(shutdownTimeout))",
            "startup-timeout=\(Self.seconds(startupTimeout))", "workers=\(executorWorkers)",
            "stop-on-unhandled-errors=\(stopOnUnhandledErrors)", "log-level=\(logLevel.rawValue)",
            "allow-insecure-plugins=\(allowInsecurePlugins)", "load-timeout=\(Self.seconds(loadTimeout))",
        ]
        if let openFilesLimit { arguments.append("open-files-limit=\(openFilesLimit)") }
        if restartsOnFailure { arguments.append("restarts-on-failure=true") }
        if holdsBeforeStart { arguments.append("holds-before-start=true") }
        for (key, value) in config.sorted(by: { $0.key < $1.key }) { arguments.append("config=\(key)=\(value)") }
        return arguments
    }

    /// Reads a description from the child's arguments; nil if they are not the parent's.
    init?(arguments: [String]) {
        var fields: [String: String] = [:]
        var config: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "=") else { return nil }
            let key = String(argument[..<equals])
            let value = String(argument[argument.index(after: equals)...])
            if key == "config" {
                guard let split = value.firstIndex(of: "=") else { return nil }
                config[String(value[..<split])] = String(value[value.index(after: split)...])
            } else {
                fields[key] = value
            }
        }
        guard let name = fields["name"], let path = fields["path"],
            let shutdown = fields["shutdown-timeout"].flatMap(Double.init),
            let startup = fields["startup-timeout"].flatMap(Double.init),
            let workers = fields["workers"].flatMap(Int.init),
            let load = fields["load-timeout"].flatMap(Double.init),
            let level = fields["log-level"].flatMap(Logger.Level.init(rawValue:))
        else { return nil }
        self.init(
            name: name,
            path: path,
            shutdownTimeout: .seconds(shutdown),
            startupTimeout: .seconds(startup),
            executorWorkers: workers,
            loadTimeout: .seconds(load)
        )
        self.config = config
        stopOnUnhandledErrors = fields["stop-on-unhandled-errors"] == "true"
        allowInsecurePlugins = fields["allow-insecure-plugins"] == "true"
        logLevel = level
        openFilesLimit = fields["open-files-limit"].flatMap(Int.init)
        restartsOnFailure = fields["restarts-on-failure"] == "true"
        holdsBeforeStart = fields["holds-before-start"] == "true"
    }

    /// A description made by the parent.
    init(
        name: String,
        path: String,
        shutdownTimeout: Duration,
        startupTimeout: Duration,
        executorWorkers: Int,
        loadTimeout: Duration
    ) {
        self.name = name
        self.path = path
        self.shutdownTimeout = shutdownTimeout
        self.startupTimeout = startupTimeout
        self.executorWorkers = executorWorkers
        self.loadTimeout = loadTimeout
    }

    /// The host's configuration for this one plugin: JSON logs, no restart, no drain delay.
    var configuration: HostConfiguration {
        var argument = PluginArgument(
            alias: name,
            target: path,
            taskShutdownTimeout: shutdownTimeout,
            executorWorkers: executorWorkers
        )
        argument.config = config
        argument.options.startupTimeout = startupTimeout
        var configuration = HostConfiguration(plugins: [argument])
        configuration.taskShutdownTimeout = shutdownTimeout
        configuration.executorWorkers = executorWorkers
        configuration.stopOnUnhandledErrors = stopOnUnhandledErrors
        configuration.logLevel = logLevel
        configuration.logFormat = .json
        configuration.allowInsecurePlugins = allowInsecurePlugins
        configuration.loadTimeout = loadTimeout
        return configuration
    }

    /// The child's whole life: checks its channel, applies its limits, then runs the host with
    /// its one plugin and exits with the host's exit code.
    static func main(_ arguments: [String]) async -> Never {
        guard let worker = IsolatedWorker(arguments: arguments),
            ProcessEnvironment.value(IsolationChannel.environmentVariable) == "\(IsolationChannel.childDescriptor)",
            fcntl(IsolationChannel.childDescriptor, F_GETFD) >= 0
        else {
            HostLogHandler.writeError("internal worker mode started without its host's arguments", format: .json)
            terminateProcess(AioRunExitCode.usage)
        }
        // `ps` shows `aiorun:web`, not `exe` (README, "Isolation").
        SelfChild.nameProcess("aiorun:\(worker.name)")
        if let limit = worker.openFilesLimit {
            var value = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &value) != 0 {
                let reason = String(cString: strerror(errno))
                HostLogHandler.writeError("cannot set the open-files limit to \(limit): \(reason)", format: .json)
                terminateProcess(AioRunExitCode.usage)
            }
        }
        let channel = WorkerChannel(
            fd: IsolationChannel.childDescriptor,
            endsOnFailure: worker.restartsOnFailure,
            holds: worker.holdsBeforeStart
        )
        await Host.runAndExit(worker.configuration, channel: channel)
    }

    /// `1.5` for 1.5 s, as `Double` reads it back.
    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }
}

/// The child's side of ``IsolationChannel``: it tells the parent when its plugin is ready, when
/// and why its own shutdown started and how its teardown went, and it takes the parent's
/// `DRAIN` and `STOP`.
struct WorkerChannel: Sendable {
    /// The child's end of the channel.
    let fd: Int32
    /// Whether a failure after ready ends the child, for its host to restart it (see
    /// ``IsolatedWorker/restartsOnFailure``).
    let endsOnFailure: Bool
    /// Whether the child waits for `START` once its plugin is created (see
    /// ``IsolatedWorker/holdsBeforeStart``).
    let holds: Bool
    /// Opened by `START`, `STOP` or the channel's end.
    private let gate = StartGate()

    /// The child's channel on `fd`.
    init(fd: Int32, endsOnFailure: Bool, holds: Bool) {
        self.fd = fd
        self.endsOnFailure = endsOnFailure
        self.holds = holds
    }

    /// When the child holds: says `CREATED` and waits until the host says `START` (or stops it:
    /// then nothing starts, and the child ends with the shutdown that began meanwhile).
    func holdUntilStarted() async {
        guard holds else { return }
        IsolationChannel.send([("CREATED", "1")], on: fd)
        await gate.wait()
    }

    /// The lifecycle hooks that report to the parent.
    var observer: LifecycleObserver {
        var observer = LifecycleObserver()
        observer.ready = { _ in IsolationChannel.send([("READY", "1")], on: fd) }
        observer.shutdownStarted = { trigger in
            let (kind, reason) = Self.fields(of: trigger)
            IsolationChannel.send([("TRIGGER", kind), ("REASON", reason)], on: fd)
        }
        observer.teardownFinished = { report in
            var fields = [("TEARDOWN", "1")]
            for (phase, time) in report.phaseTimes {
                let (seconds, attoseconds) = time.components
                fields.append(("PHASE-\(phase.rawValue)", "\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)"))
            }
            if let expired = report.expiredIn { fields.append(("EXPIRED", expired.rawValue)) }
            fields.append(("ABANDONED", "\(report.abandoned.count)"))
            fields.append(("WHAT", report.abandoned.description))
            IsolationChannel.send(fields, on: fd)
        }
        return observer
    }

    /// The child's exit code when plugin code closed (or replaced) its channel's descriptor: it
    /// can no longer be told to stop or report, so it ends (README, "Isolation").
    static let channelLostExitCode: Int32 = 76

    /// How often the channel's descriptor is checked while no message comes.
    static let channelCheckInterval: Int32 = 250

    /// Takes the parent's messages on a thread of its own until the channel closes: `DRAIN`
    /// marks the plugin draining, `STOP` (or the parent's end closing) starts the shutdown. A
    /// descriptor that plugin code closed or reused (a close does not wake a waiting `poll`, so
    /// it is checked every ``channelCheckInterval`` ms) ends the process with
    /// ``channelLostExitCode``.
    func listen(_ manager: LifecycleManager) {
        let identity = Self.identity(of: fd)
        OwnThread.start("aiorun-channel") { [fd] in
            while true {
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let woke = poll(&ready, 1, Self.channelCheckInterval)
                guard identity != nil, Self.identity(of: fd) == identity else {
                    manager.logger.error(
                        "plugin code closed this isolated plugin's channel to the host (descriptor \(fd)): exiting with \(Self.channelLostExitCode), since the host can no longer stop it"
                    )
                    terminateProcess(Self.channelLostExitCode)
                }
                if woke <= 0 { continue }
                guard let message = IsolationChannel.receive(on: fd, wait: false) else {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                    manager.triggerShutdown(.hostStopping(reason: "the channel to the host closed"))
                    gate.open()
                    return
                }
                if message["DRAIN"] != nil { manager.markAllDraining() }
                if let reason = message["STOP"] {
                    manager.triggerShutdown(.hostStopping(reason: reason))
                    gate.open()
                }
                if message["START"] != nil { gate.open() }
            }
        }
    }

    /// The device and inode `fd` refers to, nil if it is not open.
    private static func identity(of fd: Int32) -> [UInt64]? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }

    /// The trigger's kind and its own reason, for the parent to mirror.
    static func fields(of trigger: ShutdownTrigger) -> (String, String) {
        switch trigger {
        case .requested(_, let reason): return ("requested", reason)
        case .stoppedWithError(_, let error): return ("stopped-with-error", error)
        case .unhandledError(_, let what): return ("unhandled-error", what)
        case .startFailed(_, let reason): return ("start-failed", reason)
        case .unitFailed(_, let reason): return ("failed", reason)
        case .hostStopping(let reason): return ("host", reason)
        default: return ("other", "\(trigger)")
        }
    }
}

/// The host-wide values an isolated plugin's child inherits (README, "Isolation").
struct IsolatedDefaults: Sendable {
    /// The teardown time limit of plugins without their own.
    let shutdownTimeout: Duration
    /// The startup time limit of plugins without their own.
    let startupTimeout: Duration
    /// The pool size of plugins without their own.
    let executorWorkers: Int
    /// `--stop-on-unhandled-errors`.
    let stopOnUnhandledErrors: Bool
    /// `--log-level`.
    let logLevel: Logger.Level
    /// `--allow-insecure-plugins`.
    let allowInsecurePlugins: Bool
    /// `--load-timeout`.
    let loadTimeout: Duration

    /// The values of `configuration`, with the time limits and pool size `manager` fills in.
    init(_ configuration: HostConfiguration, manager: LifecycleManager) {
        shutdownTimeout = manager.options.taskShutdownTimeout
        startupTimeout = manager.options.startupTimeout
        executorWorkers = manager.options.executorWorkers
        stopOnUnhandledErrors = configuration.stopOnUnhandledErrors
        logLevel = configuration.logLevel
        allowInsecurePlugins = configuration.allowInsecurePlugins
        loadTimeout = configuration.loadTimeout
    }

    /// The child's description for `plugin`, with its config values, its own unit options (over
    /// these defaults) and its limits.
    func worker(
        _ plugin: LoadedPlugin,
        config: [String: String],
        options: UnitOptions,
        limits: IsolationSettings
    ) -> IsolatedWorker {
        var worker = IsolatedWorker(
            name: plugin.name,
            path: plugin.path,
            shutdownTimeout: options.shutdownTimeout ?? shutdownTimeout,
            startupTimeout: options.startupTimeout ?? startupTimeout,
            executorWorkers: options.executorWorkers ?? executorWorkers,
            loadTimeout: loadTimeout
        )
        worker.config = config
        worker.stopOnUnhandledErrors = stopOnUnhandledErrors
        worker.logLevel = logLevel
        worker.allowInsecurePlugins = allowInsecurePlugins
        worker.openFilesLimit = limits.openFilesLimit
        worker.restartsOnFailure = options.restart?.mode == .onFailure
        return worker
    }
}

/// A gate that opens once: the held child's wait for the host's `START`.
final class StartGate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = LockedValue(State())

    /// Waits until the gate is open.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state -> Bool in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }

    /// Opens the gate and lets every waiter through.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
