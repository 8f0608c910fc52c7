import AioRunPluginAPI
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// A test fixture that meddles with the process's signals, as config says (see README, Failure
/// modes, Signals):
/// - `action`: what it does to signal `signal` (default `SIGTERM`):
///   - `ignore` / `default`: `signal(sig, SIG_IGN)` / `signal(sig, SIG_DFL)`;
///   - `handler`: `sigaction` with a handler of its own that prints `signal-misuse caught N`;
///   - `bypass-ignore`: `SIG_IGN` through libc's own `sigaction`, found with `dlsym` on libc, so
///     that nothing in the host can see the call (only a later check of the disposition can);
///   - `bypass-handler`: the same with a handler in this library, so that only the library that
///     holds the handler can name the plugin;
///   - `watch`: a dispatch signal source of its own for the signal (as swift-service-lifecycle
///     and Vapor watch signals on Linux), printing `signal-misuse's own source saw N`;
///   - `raise`: `raise(sig)` from a tracked task, on a pool thread;
///   - `raise-in-callback`: `raise(sig)` from its `onShutdown` callback, which then sleeps 10 s
///     (a raise during shutdown is a second signal);
///   - `none` (default): nothing.
/// - `when`: `init` (default) or `run`: in the initializer, or in `run()` after `delay-ms`
///   (default 100; `raise` always waits `delay-ms` in its task).
/// - `shield-ms`: if above 0, `run()` starts a shield that sleeps that long and then prints
///   `signal-misuse shield done`, so that a test sees whether teardown waited for it.
/// - `load-and-unload`: a library to `dlopen` and `dlclose` in the initializer, so that the
///   loader removes an object while the host loads plugins (the signal guard then looks at every
///   loaded object again).
/// It logs `signal-misuse did <action> <signal> in <when>` once it has acted.
final class SignalMisusePlugin: AioRunPlugin {
    let context: PluginContext
    let action: String
    let signalName: String
    let number: Int32
    let when: String
    let delay: Duration
    let shieldMilliseconds: Int
    /// The `watch` action's source, kept alive as long as the plugin.
    let watcher = SourceHolder()

    /// Keeps a dispatch source alive (set once, from `act`).
    final class SourceHolder: @unchecked Sendable {
        // Safe: written once by `act` (in the initializer or in run(), before anything reads it)
        // and never read afterwards; it only keeps the source alive.
        var source: (any DispatchSourceSignal)?
    }

    struct BadConfig: Error, CustomStringConvertible {
        let description: String
    }

    init(context: PluginContext) throws {
        self.context = context
        action = context.config.string("action", default: "none")
        signalName = context.config.string("signal", default: "SIGTERM")
        let numbers: [String: Int32] = [
            "SIGINT": SIGINT, "SIGTERM": SIGTERM, "SIGHUP": SIGHUP, "SIGQUIT": SIGQUIT,
            "SIGUSR1": SIGUSR1, "SIGUSR2": SIGUSR2, "SIGPIPE": SIGPIPE,
        ]
        guard let number = numbers[signalName] else { throw BadConfig(description: "unknown signal \(signalName)") }
        self.number = number
        when = context.config.string("when", default: "init")
        delay = .milliseconds(try context.config.int("delay-ms", default: 100, in: 0...600_000))
        shieldMilliseconds = try context.config.int("shield-ms", default: 0, in: 0...600_000)
        let churned = context.config.string("load-and-unload", default: "")
        if !churned.isEmpty {
            guard let handle = dlopen(churned, RTLD_NOW | RTLD_LOCAL) else {
                throw BadConfig(description: "cannot load \(churned)")
            }
            dlclose(handle)
        }
        if when == "init" && !action.hasPrefix("raise") { act() }
    }

    func run() async throws {
        let context = self.context
        context.log.info("signal-misuse running")
        if shieldMilliseconds > 0 {
            let pause = Duration.milliseconds(shieldMilliseconds)
            context.spawn("shield starter") {
                try await context.shutdownWaitsFor("slow shield") {
                    try? await Task.sleep(for: pause)
                    print("signal-misuse shield done")
                }
            }
        }
        if action == "raise" {
            let (number, delay) = (self.number, self.delay)
            let name = signalName
            context.spawn("raiser") {
                try await Task.sleep(for: delay)
                context.log.info("signal-misuse raising \(name)")
                raise(number)
                context.log.info("signal-misuse did raise \(name) in task")
            }
        } else if action == "raise-in-callback" {
            let number = self.number
            let name = signalName
            context.onShutdown("raiser") {
                context.log.info("signal-misuse raising \(name) in its shutdown callback")
                raise(number)
                try await Task.sleep(for: .seconds(10))
            }
        } else if when == "run" {
            try await Task.sleep(for: delay)
            act()
        }
    }

    private func act() {
        switch action {
        case "ignore":
            _ = signal(number, SIG_IGN)
        case "default":
            _ = signal(number, SIG_DFL)
        case "handler":
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { caught in
                // Async-signal-safe: write(2) only.
                let text = "signal-misuse caught \(caught)\n"
                _ = text.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
            }
            sigemptyset(&action.sa_mask)
            _ = sigaction(number, &action, nil)
        case "watch":
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let number = self.number
            source.setEventHandler { print("signal-misuse's own source saw \(number)") }
            source.resume()
            watcher.source = source
        case "bypass-ignore", "bypass-handler":
            typealias SigactionFunction =
                @convention(c) (
                    Int32, UnsafePointer<sigaction>?, UnsafeMutablePointer<sigaction>?
                ) -> Int32
            guard let libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), let symbol = dlsym(libc, "sigaction") else {
                context.log.error("signal-misuse: libc's sigaction not found")
                return
            }
            let realSigaction = unsafeBitCast(symbol, to: SigactionFunction.self)
            var action = sigaction()
            if self.action == "bypass-handler" {
                action.__sigaction_handler.sa_handler = { _ in }
            } else {
                action.__sigaction_handler.sa_handler = SIG_IGN
            }
            sigemptyset(&action.sa_mask)
            _ = realSigaction(number, &action, nil)
        default:
            return
        }
        context.log.info("signal-misuse did \(action) \(signalName) in \(when)")
    }
}

/// The plugin's exported entry (see README, Writing a plugin).
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "signal-misuse") {
        try SignalMisusePlugin(context: $0)
    }
}
