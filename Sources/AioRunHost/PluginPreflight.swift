import AioRunPluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// The pre-flight load (README, "Failure modes"; `--preflight`, always on for `--check` and
/// `--inspect`): no static check can prove that the dynamic loader survives a file (relocations,
/// library constructors and the entry are code), so every plugin file is first loaded in ONE
/// throwaway child process (``SelfChild``), with the host's own flags, and its entry called. The
/// parent reads from the child's progress lines and its end which file crashed the loader, called
/// `exit()` or hung, and refuses that file with exit 65 before the host loads anything itself.
enum PluginPreflight {
    /// The internal child mode: `aiorun-host --aiorun-internal-child preflight PATH…`.
    static let mode = "preflight"

    /// Every progress line of the child starts with this, so that a plugin's own output on stdout
    /// cannot be mistaken for one.
    static let marker = "\u{1}aiorun-preflight"

    /// Where the child was for one file.
    enum Stage: String {
        case dlopen, entry, done, failed

        /// What was happening, for the error line.
        var activity: String {
            switch self {
            case .dlopen: return "while the dynamic loader mapped, linked and initialized it (dlopen)"
            case .entry: return "while its aiorun_plugin_entry ran"
            case .done, .failed: return "after it had loaded"
            }
        }
    }

    // MARK: - Parent

    /// Loads `paths` (absolute, already checked by ``ELFCheck``) in one child; throws for the
    /// first file that did not load safely there. A file that merely fails to load (dlopen's
    /// error, no entry, a handshake refused) passes: the host's own attempt gives the exact
    /// message. `timeout` bounds the whole child.
    static func verify(_ paths: [String], timeout: Duration) throws(PluginLoadError) {
        guard !paths.isEmpty else { return }
        let outcome: SelfChild.Outcome
        do {
            // The child's own bound, a little after the parent's: it never outlives a killed host long.
            let ownLife = timeout.components.seconds + 5
            outcome = try SelfChild.run(mode: mode, arguments: [String(ownLife)] + paths, timeout: timeout)
        } catch {
            throw PluginLoadError(
                path: paths[0],
                step: .preflight,
                reason: "cannot run the pre-flight child process: \(error.description)"
            )
        }
        var stages: [Int: Stage] = [:]
        var current: Int?
        var finished = false
        for line in String(decoding: outcome.output, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2, fields[0] == marker else { continue }
            if fields[1] == "finished" {
                finished = true
                continue
            }
            guard fields.count >= 3, let stage = Stage(rawValue: String(fields[1])), let index = Int(fields[2]),
                paths.indices.contains(index)
            else { continue }
            stages[index] = stage
            current = index
        }
        if finished, outcome.status == .exited(0) { return }

        // The file being loaded when the child ended is the culprit; none means the child died
        // before the first one, so the first file is named.
        let culprit = current ?? 0
        let stage = stages[culprit] ?? .dlopen
        let path = paths[culprit]
        let words = outcome.lastErrorLine.map { "; its last words: \(String($0.prefix(300)))" } ?? ""
        let reason: String
        switch outcome.status {
        case .signaled:
            reason = "loading it crashed a pre-flight child process with \(outcome.status) \(stage.activity)\(words)"
        case .timedOut:
            reason =
                "loading it did not finish within \(timeout) in a pre-flight child process \(stage.activity) (a library initializer or the entry hangs?)\(words)"
        case .exited(let code):
            reason =
                "loading it ended a pre-flight child process with exit(\(code)) \(stage.activity) (a library initializer or the entry called exit(), or the loader gave up)\(words)"
        }
        throw PluginLoadError(path: path, step: .preflight, reason: reason)
    }

    // MARK: - Child

    /// The child: loads each path in order with the host's flags, finds and calls its entry, and
    /// reports each stage on stdout before it starts. Returns 0 after the last file. The first
    /// argument is the child's own time limit in seconds.
    static func childMain(_ arguments: [String]) -> Int32 {
        // A crash must end the child at once with its signal (not after Swift's backtracer), so
        // that its last stderr line is the loader's own words.
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS] { Glibc.signal(signal, SIG_DFL) }
        SelfChild.limitOwnLife(seconds: UInt32(clamping: Int(arguments.first ?? "") ?? 3600))
        for (index, path) in arguments.dropFirst().enumerated() {
            report(.dlopen, index)
            _ = dlerror()
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE),
                let symbol = dlsym(handle, ELFStructure.entryName)
            else {
                report(.failed, index)
                continue
            }
            report(.entry, index)
            let entry = unsafeBitCast(symbol, to: PluginLoader.Entry.self)
            var pluginABI: UInt32 = 0
            let raw = entry(AIORUN_PLUGIN_ABI, &pluginABI)
            // Only a matching ABI makes the result a descriptor; release it as the host would.
            if pluginABI == AIORUN_PLUGIN_ABI, let raw {
                _ = Unmanaged<AnyObject>.fromOpaque(raw).takeRetainedValue() as? PluginDescriptor
            }
            report(.done, index)
        }
        write("\(marker) finished\n")
        return 0
    }

    private static func report(_ stage: Stage, _ index: Int) {
        write("\(marker) \(stage.rawValue) \(index)\n")
    }

    /// Straight to the file descriptor: stdio's buffer would be lost in a crash.
    private static func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
