import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// The host binary's internal child modes (see ``SelfChild``), chosen before any argument
/// parsing: `aiorun-host --aiorun-internal-child MODE HOST-PID …`. Not for people: the modes and
/// their arguments may change with any release.
public enum InternalChild {
    /// If this process was started as an internal child, runs that mode and exits; otherwise
    /// returns at once.
    public static func runIfRequested() async {
        let arguments = CommandLine.arguments
        guard arguments.count >= 4, arguments[1] == SelfChild.modeArgument else { return }
        if let host = pid_t(arguments[3]) { SelfChild.dieWithParent(host) }
        let rest = Array(arguments.dropFirst(4))
        // An isolated plugin's process: the host itself, for as long as its plugin runs, with
        // no limit on its output (README, "Isolation").
        if arguments[2] == IsolatedWorker.mode { await IsolatedWorker.main(rest) }
        SelfChild.limitOutput()
        let code: Int32
        switch arguments[2] {
        case PluginPreflight.mode:
            code = PluginPreflight.childMain(rest)
        case TOMLChild.mode:
            code = TOMLChild.childMain(rest)
        default:
            let message = Array("aiorun-host: unknown internal child mode \(arguments[2])\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            code = 64
        }
        terminateProcess(code)
    }
}
