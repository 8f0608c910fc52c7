import Synchronization

/// Which plugin the host is loading or creating right now, and since when: named by the first
/// signal during a long load, by the load time limit, and by an `exit()` from plugin code (see
/// README, "Failure modes").
final class LoadProgress: Sendable {
    /// One step of loading or creating one plugin.
    struct Step: Sendable {
        /// The plugin's path (or what is checked, for the API self-check).
        let plugin: String
        /// The plugin's name, once it is known (while it is created).
        let name: String?
        /// `load` (dlopen, the library's constructors, the entry and handshake), `create` (the
        /// plugin's initializer) or `API self-check`.
        let step: String
        /// When the step began.
        let since: ContinuousClock.Instant

        /// What the host is waiting for, in words: `the initializer of plugin faulty
        /// (/path/libfaulty.so, step create)` or `plugin /path/libx.so to load (step load: dlopen,
        /// its library constructors, its entry)`.
        var waitingFor: String {
            switch step {
            case "create": return "the initializer of plugin \(name ?? plugin) (\(plugin), step create)"
            case "load": return "plugin \(plugin) to load (step load: dlopen, its library constructors, its entry)"
            case "pre-flight": return plugin
            default: return "\(plugin) (step \(step))"
            }
        }
    }

    private let current = Mutex<Step?>(nil)

    /// Records that `step` of the plugin at `path` (named `name`, once known) begins now.
    func begin(_ step: String, of path: String, name: String? = nil) {
        current.withLock { $0 = Step(plugin: path, name: name, step: step, since: .now) }
    }

    /// The step in progress (the last one begun), if any.
    var step: Step? { current.withLock { $0 } }
}
