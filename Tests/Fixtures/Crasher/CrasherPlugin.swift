import AioRunPluginAPI
import Synchronization

#if canImport(Glibc)
// For `stdout` and `stderr`, C globals that Swift 6 otherwise refuses; glibc never reassigns them.
@preconcurrency import Glibc
#endif

/// A test fixture that crashes, or otherwise harms its process, as config `mode` says: for the
/// end-to-end tests of isolation (each plugin in a child process of its own).
///
/// The library exports readiness `whenReported`. Every mode but `crash-before-ready` first logs
/// `crasher ready (pid N)` and reports ready; the misbehaviour starts `delay-ms` (default 300)
/// later. Modes that survive run until cancelled.
/// - `quiet` (default): nothing.
/// - `fatal`: prints `crasher: about to fatalError` to stderr, then `fatalError("crasher boom")`.
/// - `segv`: stores through an invalid pointer (address 8): a real SIGSEGV, not `raise`.
/// - `stack-overflow`: recurses without end in an executor job (a pool thread) until the stack
///   overflows (SIGSEGV).
/// - `exit`: calls `exit(exit-code)` (default 2).
/// - `crash-before-ready`: logs `crasher starting (pid N)`, never reports ready, and calls
///   `fatalError("crasher crash-before-ready boom")` after `delay-ms`.
/// - `crash-once`: needs `state-file`. If that file does not exist, creates it and calls
///   `fatalError("crasher crash-once boom")`; if it does, logs
///   `crasher survived (state file present)`. The state lives in a file because each isolated
///   instance is a fresh process.
/// - `grow-memory`: every `step-ms` (default 20) allocates `step-mb` (default 8) MiB and writes a
///   byte to each of its 4096-byte pages; never frees. Logs `crasher holds N MiB` every 10 steps.
/// - `open-files`: opens `/dev/null` and keeps the descriptor until `open` fails, then logs
///   `crasher could not open file N: <strerror>` at error level and throws the same text from
///   `run()` (with EMFILE: `Too many open files`).
/// - `close-notify`: closes the descriptor that the environment variable `AIORUN_PARENT_FD` names
///   and logs `crasher closed fd N (AIORUN_PARENT_FD)`, or logs
///   `crasher found no AIORUN_PARENT_FD` when it is unset.
/// - `shield`: when cancelled, starts a shield labelled `crasher shield` that sleeps `shield-ms`
///   (default 1000), then prints `crasher shield done`; logs `crasher shield started` first.
/// - `ignore-term`: spawns a tracked task labelled `crasher ignores cancellation` that never ends,
///   whatever cancellation says, so that teardown hits its time limit.
/// - `print-lines`: every 10 ms prints `crasher line N` to stdout and, from a tracked task
///   labelled `crasher log lines`, logs `crasher log N` (N from 1 in each).
/// - `grandchild`: starts `/bin/sleep 60` in the plugin's process group, keeping stdout and stderr
///   (as a helper started without redirection does), logs `crasher grandchild <pid>`, then after
///   `delay-ms` faults like `segv`.
/// - `request-then-crash`: after `delay-ms` calls `requestShutdown`, then faults like `segv` 50 ms
///   later, in the middle of its own teardown (an `onShutdown` callback keeps it going for 1 s).
/// - `watch-draining`: looks at `context.isDraining` every 10 ms and logs `crasher sees draining`
///   once it is true (the host's drain delay must reach an isolated plugin too).
final class CrasherPlugin: AioRunPlugin {
    /// The modes (see the type's comment).
    enum Mode: String, CaseIterable {
        case quiet
        case fatal
        case segv
        case stackOverflow = "stack-overflow"
        case exit
        case crashBeforeReady = "crash-before-ready"
        case crashOnce = "crash-once"
        case growMemory = "grow-memory"
        case openFiles = "open-files"
        case closeNotify = "close-notify"
        case shield
        case ignoreTerm = "ignore-term"
        case printLines = "print-lines"
        case watchDraining = "watch-draining"
        case grandchild
        case requestThenCrash = "request-then-crash"
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let context: PluginContext
    let mode: Mode
    let delay: Duration
    let stateFile: String?
    let exitCode: Int32
    let stepMilliseconds: Int
    let stepMebibytes: Int
    let shieldMilliseconds: Int

    init(context: PluginContext) throws {
        self.context = context
        let modeName = context.config.string("mode", default: Mode.quiet.rawValue)
        guard let mode = Mode(rawValue: modeName) else {
            let known = Mode.allCases.map(\.rawValue).joined(separator: ", ")
            throw Failure(description: "crasher: unknown mode \(modeName) (known: \(known))")
        }
        self.mode = mode
        delay = .milliseconds(try context.config.int("delay-ms", default: 300, in: 0...3_600_000))
        let stateFile = context.config.string("state-file", default: "")
        self.stateFile = stateFile.isEmpty ? nil : stateFile
        if mode == .crashOnce && stateFile.isEmpty {
            throw Failure(description: "crasher: mode crash-once needs state-file")
        }
        exitCode = Int32(try context.config.int("exit-code", default: 2, in: 0...255))
        stepMilliseconds = try context.config.int("step-ms", default: 20, in: 1...60_000)
        stepMebibytes = try context.config.int("step-mb", default: 8, in: 1...4096)
        shieldMilliseconds = try context.config.int("shield-ms", default: 1000, in: 0...3_600_000)
    }

    func run() async throws {
        let context = self.context
        if mode == .crashBeforeReady {
            context.log.info("crasher starting (pid \(getpid()))", metadata: ["mode": mode.rawValue])
            try await Task.sleep(for: delay)
            fatalError("crasher crash-before-ready boom")
        }
        context.log.info("crasher ready (pid \(getpid()))", metadata: ["mode": mode.rawValue])
        context.reportReady()
        switch mode {
        case .quiet, .crashBeforeReady:
            break
        case .watchDraining:
            while !context.isDraining { try await Task.sleep(for: .milliseconds(10)) }
            context.log.info("crasher sees draining")
        case .fatal:
            try await Task.sleep(for: delay)
            fputs("crasher: about to fatalError\n", stderr)
            fflush(stderr)
            fatalError("crasher boom")
        case .grandchild:
            var pid = pid_t()
            var arguments: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("60"), nil]
            defer { for argument in arguments { free(argument) } }
            guard posix_spawn(&pid, "/bin/sleep", nil, nil, &arguments, nil) == 0 else {
                throw Failure(description: "crasher: cannot start /bin/sleep")
            }
            context.log.info("crasher grandchild \(pid)")
            try await Task.sleep(for: delay)
            Self.storeThroughInvalidPointer()
            throw Failure(description: "crasher: the store through an invalid pointer did not fault")
        case .requestThenCrash:
            // Its teardown lasts a second (this callback), and the fault comes 50 ms into it.
            context.onShutdown("crasher slow callback") { try? await Task.sleep(for: .seconds(1)) }
            try await Task.sleep(for: delay)
            context.requestShutdown(reason: "crasher asked to stop")
            Task.detached {
                usleep(50_000)
                Self.storeThroughInvalidPointer()
            }
        case .segv:
            try await Task.sleep(for: delay)
            Self.storeThroughInvalidPointer()
            throw Failure(description: "crasher: the store through an invalid pointer did not fault")
        case .stackOverflow:
            try await Task.sleep(for: delay)
            let depth = try await context.executor.run("crasher recursion") { Self.recurse(1) }
            throw Failure(description: "crasher: recursion ended at depth \(depth) without overflowing")
        case .exit:
            try await Task.sleep(for: delay)
            Glibc.exit(exitCode)
        case .crashOnce:
            try await Task.sleep(for: delay)
            try crashOnce()
        case .growMemory:
            try await Task.sleep(for: delay)
            try await growMemory()
        case .openFiles:
            try await Task.sleep(for: delay)
            try openFilesUntilRefused()
        case .closeNotify:
            try await Task.sleep(for: delay)
            closeParentDescriptor()
        case .shield:
            try await shieldWhenCancelled()
            return
        case .ignoreTerm:
            try await Task.sleep(for: delay)
            context.spawn("crasher ignores cancellation") {
                while true { try? await Task.sleep(for: .milliseconds(50)) }
            }
        case .printLines:
            try await Task.sleep(for: delay)
            try await printLines()
        }
        try await Self.runUntilCancelled()
    }

    /// Sleeps in 100 ms steps until cancelled, then throws `CancellationError`.
    static func runUntilCancelled() async throws {
        while true { try await Task.sleep(for: .milliseconds(100)) }
    }
}

extension CrasherPlugin {
    /// The address `segv` stores to. An atomic, so that the optimizer cannot see its value and
    /// must emit the store (a store to a known address 0 would become a trap instruction, SIGILL).
    static let faultAddress = Atomic<Int>(8)

    /// Stores through ``faultAddress``: a real page fault, SIGSEGV.
    @inline(never)
    static func storeThroughInvalidPointer() {
        let address = faultAddress.load(ordering: .sequentiallyConsistent)
        guard let pointer = UnsafeMutablePointer<Int>(bitPattern: address) else { return }
        pointer.pointee = 1
    }

    /// Recurses until the stack overflows. Each frame keeps 1 KiB of stack and uses it after the
    /// call returns, so the call cannot become a tail call or be folded away.
    @inline(never)
    static func recurse(_ depth: Int) -> Int {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { frame in
            frame.initialize(repeating: UInt8(truncatingIfNeeded: depth))
            let below = recurse(depth + 1)
            return Int(frame[depth % frame.count]) &+ below
        }
    }

    /// `crash-once`: crashes if the state file is missing (after creating it), survives if not.
    func crashOnce() throws {
        guard let stateFile else { return }
        if access(stateFile, F_OK) == 0 {
            context.log.info("crasher survived (state file present)")
            return
        }
        let descriptor = open(stateFile, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            throw Failure(description: "crasher could not create \(stateFile): \(String(cString: strerror(errno)))")
        }
        let text = "crashed in pid \(getpid())\n"
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
        fsync(descriptor)
        close(descriptor)
        fatalError("crasher crash-once boom")
    }

    /// `grow-memory`: allocates and touches `step-mb` MiB every `step-ms` until cancelled.
    func growMemory() async throws {
        let stepBytes = stepMebibytes << 20
        var held: [UnsafeMutableRawPointer] = []
        while true {
            guard let block = malloc(stepBytes) else {
                context.log.error("crasher could not allocate \(stepMebibytes) MiB more")
                try await Task.sleep(for: .milliseconds(stepMilliseconds))
                continue
            }
            for offset in stride(from: 0, to: stepBytes, by: 4096) {
                block.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self)
            }
            held.append(block)
            if held.count % 10 == 0 {
                context.log.info("crasher holds \(held.count * stepMebibytes) MiB")
            }
            try await Task.sleep(for: .milliseconds(stepMilliseconds))
        }
    }

    /// `open-files`: opens `/dev/null` until refused, keeping every descriptor, then throws.
    func openFilesUntilRefused() throws {
        var count = 0
        while true {
            count += 1
            if open("/dev/null", O_RDONLY) < 0 {
                let message = "crasher could not open file \(count): \(String(cString: strerror(errno)))"
                context.log.error(message)
                throw Failure(description: message)
            }
        }
    }

    /// `close-notify`: closes the descriptor named by `AIORUN_PARENT_FD`, if set.
    func closeParentDescriptor() {
        guard let raw = getenv("AIORUN_PARENT_FD").map({ String(cString: $0) }) else {
            context.log.info("crasher found no AIORUN_PARENT_FD")
            return
        }
        guard let descriptor = Int32(raw), descriptor >= 0 else {
            context.log.error("crasher: AIORUN_PARENT_FD=\(raw) is not a descriptor")
            return
        }
        if close(descriptor) == 0 {
            context.log.info("crasher closed fd \(descriptor) (AIORUN_PARENT_FD)")
        } else {
            context.log.error("crasher could not close fd \(descriptor): \(String(cString: strerror(errno)))")
        }
    }

    /// `shield`: runs until cancelled, then waits for a shield that outlives the cancellation.
    func shieldWhenCancelled() async throws {
        do {
            try await Self.runUntilCancelled()
        } catch {
            let milliseconds = shieldMilliseconds
            context.log.info("crasher shield started")
            do {
                try await context.shutdownWaitsFor("crasher shield") {
                    try? await Task.sleep(for: .milliseconds(milliseconds))
                    print("crasher shield done")
                    fflush(stdout)
                }
            } catch is CancellationError {
                // Expected: the caller was cancelled, so it returns at once; the shield runs on.
            }
        }
    }

    /// `print-lines`: prints `crasher line N` and logs `crasher log N` every 10 ms until cancelled.
    func printLines() async throws {
        let context = self.context
        context.spawn("crasher log lines") {
            var line = 0
            while true {
                line += 1
                context.log.info("crasher log \(line)")
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        var line = 0
        while true {
            line += 1
            print("crasher line \(line)")
            fflush(stdout)
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "crasher", readiness: .whenReported) {
        try CrasherPlugin(context: $0)
    }
}
