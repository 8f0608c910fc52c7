import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log lines on their way to a file descriptor (stderr), through a bounded in-memory queue that
/// a dedicated writer thread drains, so that no thread that logs ever waits for the reader.
///
/// A stalled reader (a stopped `less`, a full journald socket) blocks only the writer thread:
/// loggers keep appending until the queue holds ``maxQueuedLines`` lines or ``maxQueuedBytes``
/// bytes, and from then on lines are dropped and counted. Once the writer can write again it
/// writes, at the place where they went missing, one line saying how many were dropped (see
/// README, "Failure modes"). Lines keep their order; each `write(2)` carries whole lines.
/// A reader that is gone (EPIPE) loses the lines; nothing else happens.
///
/// The writer is a plain pthread, neither the lifecycle's control thread nor a thread of the
/// cooperative pool, so a slow stream can hold up neither. ``terminateProcess(_:)`` waits for
/// the queue to drain, within ``drainQuietLimit`` and ``drainTotalLimit``.
public final class BoundedLogWriter: @unchecked Sendable {
    // Why this is safe: every stored `var` below is read and written only between
    // `pthread_mutex_lock(mutex)` and `pthread_mutex_unlock(mutex)`, and the condition
    // variables are used only with that mutex held. The writer thread reads a batch it took out
    // of `queue` under the lock and owns it alone afterwards. `mutex`, `work` and `idle` live in
    // their own heap allocations, made once in `init` and never freed (a writer's thread keeps
    // its instance alive for the life of the process), so they never move or dangle.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let work: UnsafeMutablePointer<pthread_cond_t>
    private let idle: UnsafeMutablePointer<pthread_cond_t>
    private let fd: Int32

    private var queue: [Entry] = []
    private var queuedBytes = 0
    private var queuedLines = 0
    private var droppedSinceLastNotice = 0
    private var droppedTotal = 0
    private var writerState = WriterState.notStarted
    private var writerWaiting = false
    private var napping = false
    private var writing = false
    private var lastProgress: UInt64 = 0
    private var notice: @Sendable (Int) -> String = BoundedLogWriter.plainNotice

    /// The process's stderr (fd 2): the host's log handler and `run {}`'s default one write here.
    public static let standardError = BoundedLogWriter(fd: 2)

    /// The process whose exit drains ``standardError`` (see its `atexit` hook).
    static let ownerProcess = Atomic<pid_t>(0)

    /// The most lines the queue holds; later lines are dropped (and counted) until there is room.
    public static let maxQueuedLines = 8192
    /// The most bytes the queue holds (1 MiB). A single longer line is still taken when the queue
    /// is empty, so no line is refused for its length alone.
    public static let maxQueuedBytes = 1 << 20
    /// At exit, the wait for the queue to drain ends once nothing could be written for this long.
    public static let drainQuietLimit: Duration = .seconds(1)
    /// At exit, the wait for the queue to drain ends after this long in any case.
    public static let drainTotalLimit: Duration = .seconds(5)
    /// Lines are gathered into `write(2)` calls of up to this many bytes.
    static let chunkBytes = 16 * 1024
    /// After a batch of several lines the writer lets lines gather this long (1 ms) before taking
    /// the next.
    static let coalescingNanoseconds = 1_000_000

    private enum Entry {
        case line(String)
        case dropped(Int)
    }

    private enum WriterState {
        case notStarted
        case running
        /// No thread could be started: callers write themselves, as before this type existed.
        case unavailable
    }

    /// A writer for `fd`. Its thread starts with the first line.
    init(fd: Int32) {
        self.fd = fd
        mutex = PthreadMutex.make()
        work = Self.makeCondition()
        idle = Self.makeCondition()
    }

    /// Sets how the "lines dropped" notice is worded, so that it matches the log format (text or
    /// JSON). The closure gets the count and returns one line, ending in a newline.
    public func setDropNotice(_ make: @escaping @Sendable (Int) -> String) {
        pthread_mutex_lock(mutex)
        notice = make
        pthread_mutex_unlock(mutex)
    }

    /// Queues one line (it should end in a newline) and returns at once. Drops it, and counts
    /// it, when the queue is full. A line written `promptly` (the log handlers' notice level and
    /// above: `ready: N plugins running`, warnings, errors) ends the writer's nap, so it never
    /// waits behind a burst of routine lines.
    public func write(_ line: String, promptly: Bool = false) {
        let bytes = line.utf8.count
        pthread_mutex_lock(mutex)
        if case .notStarted = writerState { startWriter() }
        if case .unavailable = writerState {
            pthread_mutex_unlock(mutex)
            Self.writeAll(fd, Array(line.utf8))
            return
        }
        let fits =
            queuedLines == 0
            || (queuedLines < Self.maxQueuedLines && queuedBytes + bytes <= Self.maxQueuedBytes)
        if !fits {
            droppedSinceLastNotice += 1
            droppedTotal += 1
            pthread_mutex_unlock(mutex)
            return
        }
        if droppedSinceLastNotice > 0 {
            queue.append(.dropped(droppedSinceLastNotice))
            droppedSinceLastNotice = 0
        }
        queue.append(.line(line))
        queuedLines += 1
        queuedBytes += bytes
        if writerWaiting {
            // One wake-up per idle writer: the lines that follow until it runs join its batch.
            writerWaiting = false
            pthread_cond_signal(work)
        } else if promptly && napping {
            napping = false
            pthread_cond_signal(work)
        }
        pthread_mutex_unlock(mutex)
    }

    /// How many lines were dropped since the process started.
    public var droppedLines: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return droppedTotal
    }

    /// Waits until every queued line (and any pending "dropped" notice) has been written, or
    /// until nothing could be written for `quietLimit`, or `totalLimit` has passed. Returns
    /// whether everything was written. Never waits on the stream itself.
    @discardableResult
    public func drain(quietLimit: Duration = drainQuietLimit, totalLimit: Duration = drainTotalLimit) -> Bool {
        let start = Self.monotonicNanoseconds()
        let quiet = Self.nanoseconds(quietLimit)
        let total = start &+ Self.nanoseconds(totalLimit)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard case .running = writerState else { return true }
        while !queue.isEmpty || droppedSinceLastNotice > 0 || writing {
            if writerWaiting || napping {
                writerWaiting = false
                napping = false
                pthread_cond_signal(work)
            }
            let now = Self.monotonicNanoseconds()
            let quietUntil = max(start, lastProgress) &+ quiet
            let until = min(quietUntil, total)
            if now >= until { return false }
            var deadline = timespec(tv_sec: Int(until / 1_000_000_000), tv_nsec: Int(until % 1_000_000_000))
            pthread_cond_timedwait(idle, mutex, &deadline)
        }
        return true
    }

    // MARK: - The writer thread

    /// Starts the writer thread; the caller holds the lock.
    private func startWriter() {
        if StartThread.detached("aiorun-log", { [self] in writerLoop() }) == nil {
            writerState = .running
            // A plain `exit()` (from a library, or argument parsing) skips `terminateProcess`;
            // give its queued lines the same bounded chance to get out.
            // Only in this process: a child forked by plugin code has no writer thread, and its
            // `exit()` must not wait for one.
            if self === Self.standardError {
                BoundedLogWriter.ownerProcess.store(getpid(), ordering: .relaxed)
                atexit {
                    guard BoundedLogWriter.ownerProcess.load(ordering: .relaxed) == getpid() else { return }
                    BoundedLogWriter.standardError.drain()
                }
            }
        } else {
            writerState = .unavailable
        }
    }

    private func writerLoop() -> Never {
        var chunk: [UInt8] = []
        chunk.reserveCapacity(Self.chunkBytes)
        // Two arrays trade places: loggers append to one while this thread writes the other, and
        // each keeps its capacity, so steady logging allocates no new queue storage.
        var batch: [Entry] = []
        pthread_mutex_lock(mutex)
        while true {
            while queue.isEmpty && droppedSinceLastNotice == 0 {
                writing = false
                pthread_cond_broadcast(idle)
                writerWaiting = true
                pthread_cond_wait(work, mutex)
                writerWaiting = false
            }
            swap(&batch, &queue)
            if droppedSinceLastNotice > 0 {
                batch.append(.dropped(droppedSinceLastNotice))
                droppedSinceLastNotice = 0
            }
            queuedLines = 0
            queuedBytes = 0
            writing = true
            lastProgress = Self.monotonicNanoseconds()
            let notice = self.notice
            pthread_mutex_unlock(mutex)

            let batchLines = batch.count
            for entry in batch {
                let text: String
                switch entry {
                case .line(let line): text = line
                case .dropped(let count): text = notice(count)
                }
                if !chunk.isEmpty && chunk.count + text.utf8.count > Self.chunkBytes {
                    flush(&chunk)
                }
                chunk.append(contentsOf: text.utf8)
            }
            flush(&chunk)
            batch.removeAll(keepingCapacity: true)

            pthread_mutex_lock(mutex)
            if queue.isEmpty && droppedSinceLastNotice == 0 {
                writing = false
                pthread_cond_broadcast(idle)
            }
            // After a batch of several lines, nap for up to `coalescing` before the next batch,
            // unwoken by loggers: a burst of lines then costs one wake-up and one write per nap,
            // not one per line. After a single line the writer does not nap, so a line that
            // follows one alone (`plugin X ready in …`, then `ready: N plugins running`) goes out
            // at once too; `drain` and a line written `promptly` end a nap.
            guard batchLines > 1 else { continue }
            napping = true
            var until = timespec()
            clock_gettime(CLOCK_MONOTONIC, &until)
            until.tv_nsec += Self.coalescingNanoseconds
            if until.tv_nsec >= 1_000_000_000 {
                until.tv_sec += 1
                until.tv_nsec -= 1_000_000_000
            }
            pthread_cond_timedwait(work, mutex, &until)
            napping = false
        }
    }

    /// Writes `chunk` whole (the writer thread may block here; no one else waits for it), notes
    /// the progress, and empties it.
    private func flush(_ chunk: inout [UInt8]) {
        guard !chunk.isEmpty else { return }
        Self.writeAll(fd, chunk, waitIfNonBlocking: true) { [self] in
            pthread_mutex_lock(mutex)
            lastProgress = Self.monotonicNanoseconds()
            pthread_mutex_unlock(mutex)
        }
        chunk.removeAll(keepingCapacity: true)
    }

    /// Writes every byte unless the stream fails (a reader that is gone: EPIPE). `progress` runs
    /// after each successful `write(2)`. With `waitIfNonBlocking`, a stream that some other
    /// process made non-blocking is waited for with `poll` instead of losing the bytes (only the
    /// writer thread may wait).
    private static func writeAll(
        _ fd: Int32,
        _ bytes: [UInt8],
        waitIfNonBlocking: Bool = false,
        progress: () -> Void = {}
    ) {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, base + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waitIfNonBlocking {
                    var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, 1000)
                    continue
                }
                if written <= 0 { return }
                offset += written
                progress()
            }
        }
    }

    // MARK: - Helpers

    /// The notice when no format was set: `aiorun: N log lines dropped (…)`.
    @Sendable static func plainNotice(_ count: Int) -> String {
        "aiorun: \(count) log \(count == 1 ? "line" : "lines") dropped (stderr was not read fast enough)\n"
    }

    /// A heap-allocated condition variable that waits on CLOCK_MONOTONIC (wall-clock jumps must not
    /// stretch or cut a bounded wait); never freed.
    static func makeCondition() -> UnsafeMutablePointer<pthread_cond_t> {
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        return condition
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
