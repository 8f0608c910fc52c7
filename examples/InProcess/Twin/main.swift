// The Swift twin of a complete aiorun program (README, "In-process use", where the two stand side
// by side): a background task, a blocking job on the executor, shielded work, a shutdown
// callback, a stop on errors, and code that runs after the runner has returned.
import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// Work that shutdown must not cut: it runs to its end even when `main` is cancelled.
@Sendable func saveState() async {
    try? await Task.sleep(for: .seconds(2))
    print("state saved")
}

do {
    try await runUntilShutdown(options: LifecycleOptions(stopOnUnhandledErrors: true)) {
        try onShutdown { print("closing connections") }
        try spawn("tick") {
            for tick in 1... {
                print("tick \(tick)")
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        let digest = try await executor.run("digest") { (0..<1_000_000).reduce(0, +) }
        print("digest \(digest)")
        do {
            try await shutdownWaitsFor("save state") { await saveState() }
        } catch is CancellationError {
            print("main cancelled; saving continues")
        }
    }
    print("after run")
} catch {
    print("stopped by \(error)")
    exit(1)
}
