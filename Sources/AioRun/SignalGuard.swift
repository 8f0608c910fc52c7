import AioRunPluginAPI
import CAioRunSignalGuard

#if canImport(Glibc)
import Glibc
#endif

/// Something plugin code did to one of the host's signals, as the guard found it.
struct SignalFinding: Sendable {
    /// What happened.
    enum What: Sendable {
        /// A change of the disposition to `requested`, through `function`, was refused.
        case refused(function: String, requested: String)
        /// The disposition was found changed to `found` (by a call the guard could not see) and
        /// was restored.
        case restored(found: String)
        /// `function` (`raise`) was called for the signal; it was sent to the whole process.
        case raised(function: String)
        /// A dispatch signal source was created for a signal the host receives: allowed, but the
        /// plugin will react to the signal on its own.
        case watched
    }

    /// The signal.
    let signal: Int32
    /// What happened.
    let what: What
    /// The plugin instance whose context was current at the call, or that loaded the library the
    /// call came from; nil when neither is known.
    let plugin: String?
    /// The library the call (or the handler found) came from, when it is not part of the host.
    let library: String?
}

/// The host's ownership of its signals (see README, Failure modes, Signals).
///
/// Two layers. First, CAioRunSignalGuard interposes `sigaction`, `signal` (and its variants) and
/// `raise`: plugin code cannot change an owned signal's disposition (the call is refused and
/// recorded), and its `raise` of a signal the host receives goes to the whole process. Second,
/// `collect` compares every owned disposition with the one kept at start-up and restores any that
/// changed anyway (a direct system call, or libc's `sigaction` found through `dlsym`); the manager
/// calls it at checkpoints and periodically from the control thread.
enum SignalGuard {
    /// The signals whose disposition the host keeps, as they were when the guard was armed: the
    /// ones it receives (SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2) and SIGPIPE (ignored).
    /// SIGQUIT is not among them: it belongs to the Swift runtime's crash handler (a backtrace of
    /// every thread), which resets it itself once it has run.
    static let owned: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE]

    /// The signals that `raise` sends to the whole process. On a thread of libdispatch's pool
    /// (the cooperative pool) these signals are blocked (the host's reach it through a signalfd),
    /// so a thread-directed one would never be delivered there.
    static let redirected: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

    /// What the guard knows about libraries: those loaded at arming time (the host), and which
    /// plugin loaded each later one. One lock also makes `collect` the ring's only reader.
    private struct Libraries {
        var host: Set<String> = []
        var plugin: [String: String] = [:]
        /// The last walk of the loaded objects, so that the next looks at new ones only.
        var walked: LibraryWalk?

        /// Attributes the libraries loaded since the last walk, and not yet known, to `owner`.
        /// Constant time when the loader has added and removed nothing since; otherwise only
        /// the objects after the last walk's are read, unless one was removed (README, "Failure
        /// modes": the host checks after every plugin, so a walk of all would be quadratic).
        mutating func attributeNew(to owner: String) {
            if let walked, walked.isCurrent(aiorun_signal_guard_library_generation()) { return }
            let walk = LibraryWalk.now()
            let start = walked.map { walk.newObjects(since: $0) } ?? 0
            for index in start..<walk.names.count {
                guard let pointer = walk.names[index] else { continue }
                let library = String(cString: pointer)
                if !host.contains(library) && plugin[library] == nil { plugin[library] = owner }
            }
            walked = walk
        }
    }

    /// One walk of the loaded objects: their names as the loader keeps them (the same address
    /// while an object stays loaded) and the loader's counts of added and removed objects.
    private struct LibraryWalk {
        var names: [UnsafePointer<CChar>?]
        var generation: aiorun_library_generation

        static func now() -> LibraryWalk {
            var capacity = 256
            while true {
                var names = [UnsafePointer<CChar>?](repeating: nil, count: capacity)
                var generation = aiorun_library_generation()
                let count = Int(aiorun_signal_guard_loaded_libraries(&names, Int32(capacity), &generation))
                if count <= capacity { return LibraryWalk(names: Array(names.prefix(count)), generation: generation) }
                capacity = count + 64
            }
        }

        /// Whether nothing was added or removed since this walk. Counts of zero mean the loader
        /// gave none, and then nothing is known.
        func isCurrent(_ now: aiorun_library_generation) -> Bool {
            generation.adds != 0 && now.adds == generation.adds && now.subs == generation.subs
        }

        /// Where the objects loaded since `earlier` start in this walk: after `earlier`'s last,
        /// when nothing was removed and that one is still in its place (new objects are appended
        /// to the loader's list); otherwise 0, every object.
        func newObjects(since earlier: LibraryWalk) -> Int {
            let count = earlier.names.count
            guard generation.adds != 0, generation.subs == earlier.generation.subs,
                count > 0, count <= names.count, names[count - 1] == earlier.names[count - 1]
            else { return 0 }
            return count
        }
    }

    private static let libraries = LockedValue(Libraries())

    /// Arms the guard, once per process; later calls do nothing. Call it after the host's own
    /// dispositions are in place (the signal sources registered, SIGPIPE ignored).
    static func arm() {
        let armed = owned.withUnsafeBufferPointer { owned in
            redirected.withUnsafeBufferPointer { redirected -> Int32 in
                guard let ownedStart = owned.baseAddress, let redirectedStart = redirected.baseAddress else { return 0 }
                return aiorun_signal_guard_arm(
                    ownedStart,
                    Int32(owned.count),
                    redirectedStart,
                    Int32(redirected.count),
                    currentContext
                )
            }
        }
        guard armed == 1 else { return }
        let walk = LibraryWalk.now()
        let loaded = walk.names.compactMap { $0.map { String(cString: $0) } }
        libraries.withLock {
            $0.host = Set(loaded)
            $0.walked = walk
        }
    }

    /// Takes every recorded event and restores every owned disposition that changed. Libraries
    /// loaded since the last call and not yet attributed are attributed to `newLibrariesOf`.
    static func collect(newLibrariesOf plugin: String? = nil) -> [SignalFinding] {
        libraries.withLock { libraries in
            if let plugin { libraries.attributeNew(to: plugin) }
            var findings: [SignalFinding] = []
            var event = aiorun_signal_event()
            while aiorun_signal_guard_next_event(&event) != 0 {
                findings.append(finding(for: event, libraries: libraries))
            }
            var signals = [Int32](repeating: 0, count: owned.count)
            var found = [UInt](repeating: 0, count: owned.count)
            let changed = Int(aiorun_signal_guard_restore_changed(&signals, &found, Int32(owned.count)))
            for index in 0..<min(changed, owned.count) {
                let library = self.library(containing: found[index], libraries: libraries)
                findings.append(
                    SignalFinding(
                        signal: signals[index],
                        what: .restored(found: describe(handler: found[index])),
                        plugin: library.flatMap { libraries.plugin[$0] },
                        library: library
                    )
                )
            }
            return findings
        }
    }

    /// How many events the guard dropped because nobody collected them in time.
    static var droppedEvents: UInt { UInt(aiorun_signal_guard_dropped_events()) }

    private static func finding(for event: aiorun_signal_event, libraries: Libraries) -> SignalFinding {
        let context = event.context.map { Unmanaged<PluginContext>.fromOpaque($0).takeRetainedValue() }
        let library = library(containing: event.caller, libraries: libraries)
        let plugin = context?.name ?? library.flatMap { libraries.plugin[$0] }
        let function = event.function.map { String(cString: $0) } ?? "?"
        let what: SignalFinding.What
        switch event.kind {
        case aiorun_signal_event_raised: what = .raised(function: function)
        case aiorun_signal_event_watched: what = .watched
        default: what = .refused(function: function, requested: describe(handler: event.requested))
        }
        return SignalFinding(signal: event.signo, what: what, plugin: plugin, library: library)
    }

    /// The file of the library holding `address`, unless it is part of the host.
    private static func library(containing address: UInt, libraries: Libraries) -> String? {
        guard address > 1, aiorun_signal_guard_is_host_address(address) == 0 else { return nil }
        return aiorun_signal_guard_library_of(address).map { String(cString: $0) } ?? "an unknown library"
    }

    /// `SIG_DFL`, `SIG_IGN`, or `a handler at 0x… in <library>`.
    static func describe(handler: UInt) -> String {
        switch handler {
        case 0: return "SIG_DFL"
        case 1: return "SIG_IGN"
        default:
            if let file = aiorun_signal_guard_library_of(handler) {
                return "a handler in \(String(cString: file))"
            }
            return "a handler at 0x\(String(handler, radix: 16))"
        }
    }

    /// The guard's context hook: the current plugin context, retained, or nil outside plugins.
    private static let currentContext: @convention(c) () -> UnsafeMutableRawPointer? = {
        guard let context = PluginContext.current else { return nil }
        return Unmanaged.passRetained(context).toOpaque()
    }
}

extension SignalFinding {
    /// One log line: which plugin, which signal, what it set, and what the host did about it.
    /// `unknown` names the culprit when neither the plugin nor its library is known.
    func message(unknown: String) -> String {
        let culprit: String
        if let plugin {
            culprit = "plugin \(plugin)"
        } else if let library {
            culprit = "code in \(library)"
        } else {
            culprit = unknown
        }
        let name = SignalWatcher.name(of: signal)
        switch what {
        case .refused(let function, let requested):
            return
                "\(culprit) tried to set \(name) to \(requested) with \(function)(); refused: the host keeps its own \(name) disposition (README, Failure modes, Signals)"
        case .restored(let found):
            return
                "\(name) was changed to \(found) by \(culprit); restored the host's disposition (README, Failure modes, Signals)"
        case .raised(let function):
            return "\(culprit) called \(function)(\(name)); sent \(name) to the whole process, as if from outside"
        case .watched:
            return
                "\(culprit) watches \(name) itself (a dispatch signal source): it will react to the host's \(name) on its own; plugins should leave signals to the host and stop in onShutdown (README, Failure modes, Signals)"
        }
    }
}
