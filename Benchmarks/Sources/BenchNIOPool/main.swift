// executor-N's peer: swift-nio's NIOThreadPool, the pool Swift server code already uses for
// blocking work (`NIOThreadPool.singleton.runIfActive { ... }`).
//
//   bench-nio-pool JOBS WORKERS WINDOW
//
// Starts a NIOThreadPool of WORKERS threads, then WINDOW tasks each await their share of JOBS
// no-op jobs through the pool's async `runIfActive`, one at a time; prints
// `BENCH-ELAPSED ns=<first submission to last completion>` and shuts the pool down.
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

func writeLine(_ line: String, to fd: Int32 = 1) {
    let text = line + "\n"
    _ = text.withCString { write(fd, $0, strlen($0)) }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let jobs = Int(arguments[1]), let workers = Int(arguments[2]),
    let window = Int(arguments[3]), jobs > 0, workers > 0, window > 0
else {
    writeLine("usage: bench-nio-pool JOBS WORKERS WINDOW", to: 2)
    exit(64)
}

let pool = NIOThreadPool(numberOfThreads: workers)
pool.start()
let clock = ContinuousClock()
let start = clock.now
do {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for caller in 0..<window {
            let share = jobs / window + (caller < jobs % window ? 1 : 0)
            group.addTask {
                for _ in 0..<share {
                    try await pool.runIfActive {}
                }
            }
        }
        try await group.waitForAll()
    }
} catch {
    writeLine("bench-nio-pool: \(error)", to: 2)
    exit(1)
}
let elapsed = clock.now - start
let (seconds, attoseconds) = elapsed.components
writeLine("BENCH-ELAPSED ns=\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)")
try await pool.shutdownGracefully()
exit(0)
