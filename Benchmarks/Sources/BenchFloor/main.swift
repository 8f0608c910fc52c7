import Dispatch
// The raw Swift floor for each benchmark workload: the same work with no AioRun in between.
//
//   bench-floor shutdown N                  a bare TaskGroup of N children sleeping an hour,
//                                           cancelled by SIGTERM (a sigwait thread)
//   bench-floor shields COUNT MS            COUNT tasks sleeping MS ms; SIGTERM waits for them
//   bench-floor executor JOBS WORKERS WINDOW a bare pthread pool (mutex + condition), WORKERS
//                                           threads, JOBS no-op jobs awaited by WINDOW callers
//   bench-floor dlopen PATH...              dlopen + dlsym + entry over the plugin files
//   bench-floor cancel-rounds N ROUNDS DELAY_US LIMIT_S [discarding]
//                                           the shutdown floor's TaskGroup in a loop, no signal:
//                                           N sleepers, cancelAll() DELAY_US µs after the last
//                                           addTask; prints each round's phases and reports a
//                                           round over LIMIT_S s (issue 16); `discarding`: a
//                                           DiscardingTaskGroup instead
//   bench-floor notify PORT                 listen on 127.0.0.1:PORT, then send READY=1 to
//                                           $NOTIFY_SOCKET itself (readiness's floor)
//
// Each prints the same markers as the benchmark plugins: BENCH-READY [due=<ns>], BENCH-ELAPSED ns=<ns>.
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line straight to a file descriptor (no stdio buffering: stdout is a pipe).
func writeLine(_ line: String, to fd: Int32 = 1) {
    let text = line + "\n"
    _ = text.withCString { write(fd, $0, strlen($0)) }
}

func monotonicNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// SIGTERM is blocked before the Swift runtime starts any thread, and the main thread takes it
/// with `sigwait`, so a signal that arrives early stays pending instead of being lost. (A
/// DispatchSource registers asynchronously after `resume()`: a SIGTERM sent right after the ready
/// line was lost once in 9 runs here.) `onSIGTERM` registers what the signal does.
final class SigtermAction: Sendable {
    private let state = Mutex<(handler: (@Sendable () -> Void)?, fired: Bool)>((nil, false))

    func register(_ handler: @escaping @Sendable () -> Void) {
        let fireNow = state.withLock { state -> Bool in
            state.handler = handler
            return state.fired
        }
        if fireNow { handler() }
    }

    func fire() {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            state.fired = true
            return state.handler
        }
        handler?()
    }
}

let sigterm = SigtermAction()

func onSIGTERM(_ handler: @escaping @Sendable () -> Void) {
    sigterm.register(handler)
}

func usage() -> Never {
    writeLine(
        "usage: bench-floor shutdown N | shields COUNT MS | executor JOBS WORKERS WINDOW | dlopen PATH... | notify PORT",
        to: 2
    )
    exit(64)
}

// Top-level code stays synchronous so that SIGTERM is blocked before the Swift runtime starts
// any thread; the workload runs in a task while the main thread waits for SIGTERM.
var blocked = sigset_t()
sigemptyset(&blocked)
sigaddset(&blocked, SIGTERM)
pthread_sigmask(SIG_BLOCK, &blocked, nil)
Task.detached { await floorMain() }
var number: Int32 = 0
sigwait(&blocked, &number)
sigterm.fire()
while true { pause() }

func floorMain() async -> Never {
    let arguments = CommandLine.arguments
    guard arguments.count >= 2 else { usage() }

    switch arguments[1] {
    case "shutdown":
        guard arguments.count == 3, let count = Int(arguments[2]) else { usage() }
        // The signal source is installed before any child starts; an early SIGTERM is kept.
        let (signals, signalled) = AsyncStream.makeStream(of: Void.self)
        onSIGTERM { signalled.yield() }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask { try? await Task.sleep(for: .seconds(3600)) }
            }
            writeLine("BENCH-READY")
            for await _ in signals { break }
            group.cancelAll()
        }
        exit(0)

    case "shields":
        guard arguments.count == 4, let count = Int(arguments[2]), let millis = Int(arguments[3]) else { usage() }
        await shieldsFloor(count: count, millis: millis)
        exit(0)

    case "executor":
        guard arguments.count == 5, let jobs = Int(arguments[2]), let workers = Int(arguments[3]),
            let window = Int(arguments[4])
        else { usage() }
        let pool = BarePool(workers: workers)
        let clock = ContinuousClock()
        let start = clock.now
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<window {
                let share = jobs / window + (caller < jobs % window ? 1 : 0)
                group.addTask {
                    for _ in 0..<share {
                        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                            pool.submit { continuation.resume() }
                        }
                    }
                }
            }
        }
        let elapsed = clock.now - start
        let (seconds, attoseconds) = elapsed.components
        writeLine("BENCH-ELAPSED ns=\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)")
        pool.shutdown()
        exit(0)

    case "dlopen":
        // Signal handling first, as the host does.
        let (signals, signalled) = AsyncStream.makeStream(of: Void.self)
        onSIGTERM { signalled.yield() }
        typealias Entry = @convention(c) (UInt32, UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
        typealias APIABI = @convention(c) () -> UInt32
        // The ABI to hand the entries: the one the API library they link reports (asked once,
        // through the first plugin's handle), so the floor follows the API without a copy of it.
        var hostABI: UInt32?
        for path in arguments.dropFirst(2) {
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
                writeLine("dlopen \(path): \(String(cString: dlerror()))", to: 2)
                exit(65)
            }
            guard let symbol = dlsym(handle, "aiorun_plugin_entry") else {
                writeLine("dlsym \(path): \(String(cString: dlerror()))", to: 2)
                exit(65)
            }
            if hostABI == nil {
                guard let ask = dlsym(handle, "aiorun_api_abi") else {
                    writeLine("dlsym \(path): no aiorun_api_abi in the API library it links", to: 2)
                    exit(65)
                }
                hostABI = unsafeBitCast(ask, to: APIABI.self)()
            }
            var abi: UInt32 = 0
            guard unsafeBitCast(symbol, to: Entry.self)(hostABI ?? 0, &abi) != nil else {
                writeLine("entry \(path): plugin ABI \(abi)", to: 2)
                exit(65)
            }
        }
        writeLine("BENCH-READY")
        // Stay up until SIGTERM, like a host that is running.
        for await _ in signals { break }
        exit(0)

    case "cancel-rounds":
        guard arguments.count == 6 || (arguments.count == 7 && arguments[6] == "discarding"),
            let count = Int(arguments[2]), let rounds = Int(arguments[3]),
            let delay = Int(arguments[4]), let limit = Double(arguments[5])
        else { usage() }
        await cancelRounds(
            count: count,
            rounds: rounds,
            delayMicros: delay,
            limit: limit,
            discarding: arguments.count == 7
        )
        exit(0)

    case "notify":
        guard arguments.count == 3, let port = UInt16(arguments[2]) else { usage() }
        let (signals, signalled) = AsyncStream.makeStream(of: Void.self)
        onSIGTERM { signalled.yield() }
        let listening = listenAndNotify(port: port)
        writeLine("BENCH-LISTEN at=\(listening) port=\(port)")
        for await _ in signals { break }
        exit(0)

    default:
        usage()
    }
    exit(0)
}

/// The shutdown floor's group, repeated in one process: where a slow round's time goes.
func cancelRounds(count: Int, rounds: Int, delayMicros: Int, limit: Double, discarding: Bool) async {
    var slow = 0
    var worst: Int64 = 0
    for round in 1...rounds {
        let state = RoundState()
        // A watchdog thread reports a round that runs over the limit (it cannot be a task: the
        // cooperative pool may be the thing that is stuck).
        let watchdog = Thread { [state] in
            let start = monotonicNanos()
            while !state.done.load(ordering: .acquiring) {
                usleep(50_000)
                let since = monotonicNanos() - start
                if since > Int64(limit * 1e9) {
                    writeLine(
                        "round \(round): over \(limit) s; \(state.woke.load(ordering: .relaxed)) of \(count) children woke, "
                            + "cancelAll \(state.cancelledAt.load(ordering: .relaxed) == 0 ? "not yet called" : "called"); pid \(getpid())"
                    )
                    while !state.done.load(ordering: .acquiring) { usleep(50_000) }
                    return
                }
            }
        }
        let start = monotonicNanos()
        @Sendable func sleeper() async {
            try? await Task.sleep(for: .seconds(3600))
            if state.woke.add(1, ordering: .relaxed).newValue == count {
                state.lastWoke.store(monotonicNanos(), ordering: .relaxed)
            }
        }
        if discarding {
            await withDiscardingTaskGroup { group in
                for _ in 0..<count { group.addTask { await sleeper() } }
                if delayMicros > 0 { usleep(UInt32(delayMicros)) }
                state.cancelledAt.store(monotonicNanos(), ordering: .relaxed)
                group.cancelAll()
            }
        } else {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<count { group.addTask { await sleeper() } }
                if delayMicros > 0 { usleep(UInt32(delayMicros)) }
                state.cancelledAt.store(monotonicNanos(), ordering: .relaxed)
                group.cancelAll()
            }
        }
        let finished = monotonicNanos()
        state.done.store(true, ordering: .releasing)
        watchdog.join()
        let cancelled = state.cancelledAt.load(ordering: .relaxed)
        let took = finished - cancelled
        worst = max(worst, took)
        if Double(took) / 1e9 > limit { slow += 1 }
        let lastWoke = state.lastWoke.load(ordering: .relaxed)
        func ms(_ nanos: Int64) -> String { String(Double(nanos / 1000) / 1000) }
        writeLine(
            "round \(round): addTask loop \(ms(cancelled - start)) ms, cancelAll → last child woke "
                + "\(ms(lastWoke - cancelled)) ms, → group done \(ms(finished - lastWoke)) ms"
        )
    }
    writeLine("rounds \(rounds), over \(limit) s: \(slow), slowest cancelAll → group done \(Double(worst) / 1e6) ms")
}

final class RoundState: Sendable {
    let woke = Atomic<Int>(0)
    let cancelledAt = Atomic<Int64>(0)
    let done = Atomic<Bool>(false)
    let lastWoke = Atomic<Int64>(0)
}

/// A joinable pthread running `body`.
final class Thread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread,
            nil,
            { raw in
                Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            },
            box
        )
    }

    func join() { pthread_join(thread, nil) }
}

/// Binds and listens on 127.0.0.1:`port`, then sends `READY=1` to `$NOTIFY_SOCKET` (a path) in one
/// datagram, as `sd_notify` does; returns CLOCK_MONOTONIC right after `listen()`.
func listenAndNotify(port: UInt16) -> Int64 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port.bigEndian)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 128) == 0 else {
        writeLine("bench-floor notify: bind/listen 127.0.0.1:\(port): \(String(cString: strerror(errno)))", to: 2)
        exit(1)
    }
    let listening = monotonicNanos()
    guard let name = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), name.hasPrefix("/") else {
        writeLine("bench-floor notify: NOTIFY_SOCKET must be a path", to: 2)
        exit(64)
    }
    let notify = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    var target = sockaddr_un()
    target.sun_family = sa_family_t(AF_UNIX)
    let path = Array(name.utf8)
    withUnsafeMutableBytes(of: &target.sun_path) { $0.copyBytes(from: path.prefix($0.count - 1)) }
    let message = Array("READY=1\nSTATUS=ready".utf8)
    _ = withUnsafePointer(to: &target) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
            message.withUnsafeBytes {
                sendto(notify, $0.baseAddress, $0.count, 0, target, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
    return listening
}

func shieldsFloor(count: Int, millis: Int) async {
    let (signals, signalled) = AsyncStream.makeStream(of: Void.self)
    onSIGTERM { signalled.yield() }
    let started = StartCounter()
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<count {
            group.addTask {
                let due = monotonicNanos() + Int64(millis) * 1_000_000
                let last = started.state.withLock { state -> Int64? in
                    state.count += 1
                    state.due = max(state.due, due)
                    return state.count == count ? state.due : nil
                }
                if let last { writeLine("BENCH-READY due=\(last)") }
                try? await Task.sleep(for: .milliseconds(millis))
            }
        }
        // SIGTERM does not cut the sleeps: wait for the signal and for every sleep.
        for await _ in signals { break }
        await group.waitForAll()
    }
}

/// The simplest real thread pool: a FIFO of closures under a pthread mutex, a condition variable,
/// and `workers` pthreads started up front.
final class BarePool: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    init(workers: Int) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<workers {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(self).toOpaque()
            pthread_create(
                &thread,
                nil,
                { raw in
                    Unmanaged<BarePool>.fromOpaque(raw!).takeRetainedValue().work()
                    return nil
                },
                box
            )
            threads.append(thread)
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(job)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func work() {
        pthread_mutex_lock(&mutex)
        while true {
            if head < queue.count {
                let job = queue[head]
                head += 1
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                }
                pthread_mutex_unlock(&mutex)
                job()
                pthread_mutex_lock(&mutex)
            } else if stopping {
                pthread_mutex_unlock(&mutex)
                return
            } else {
                pthread_cond_wait(&condition, &mutex)
            }
        }
    }

    func shutdown() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
    }
}

/// Counts started sleeps and keeps the latest due time.
final class StartCounter: Sendable {
    let state = Mutex((count: 0, due: Int64(0)))
}
