// The seed example from aiorun's README, in Swift: main awaits shielded work that must not be
// cut. On Ctrl-C it prints "oh noes!" at once, "done!" when the work ends, then exits 0.
import AioRun

#if canImport(Glibc)
import Glibc
#endif

let seconds = Double(CommandLine.arguments.dropFirst().first ?? "") ?? 60

await run {
    do {
        try await shutdownWaitsFor("corofn") {
            try? await Task.sleep(for: .seconds(seconds))
            print("done!")
        }
    } catch is CancellationError {
        print("oh noes!")
    }
}
