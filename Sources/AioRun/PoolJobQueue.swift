/// The executor pool's queued jobs, in order: a plain value with no lock and no thread of its
/// own, guarded by the pool's lock (see `PoolState`).
///
/// Taking the next job and withdrawing one are O(1): a job withdrawn by its caller stays in
/// place, no longer `.queued`, and is skipped when its turn comes. Jobs before `head` have been
/// taken; they stay until the array is compacted, but have already let go of their closures
/// (see `PoolJob.start()` and `PoolJob.withdraw()`), so a slot never keeps alive what a job
/// captured.
struct PoolJobQueue {
    private var jobs: [PoolJob] = []
    private var head = 0
    /// How many jobs are still `.queued`: jobs to run, not counting withdrawn ones.
    private(set) var count = 0

    /// Whether no job waits to run.
    var isEmpty: Bool { count == 0 }

    /// Queues `job` last.
    mutating func push(_ job: PoolJob) {
        job.phase = .queued
        jobs.append(job)
        count += 1
    }

    /// Takes the next queued job, and the closure to run for it; `nil` when none is queued.
    mutating func popNext() -> (PoolJob, PoolJob.Body)? {
        while head < jobs.count {
            let job = jobs[head]
            head += 1
            if let body = job.start() {
                count -= 1
                compact()
                return (job, body)
            }
        }
        compact()
        return nil
    }

    /// Takes a queued job out of line, in place, so that it never starts.
    mutating func withdraw(_ job: PoolJob) {
        job.withdraw()
        count -= 1
    }

    /// Takes every queued job out of line, so that none starts; returns them, for their callers
    /// to be answered.
    mutating func removeAll() -> [PoolJob] {
        let withdrawn = jobs[head...].filter { $0.phase == .queued }
        for job in withdrawn { job.withdraw() }
        jobs.removeAll()
        head = 0
        count = 0
        return withdrawn
    }

    /// The jobs still queued, in order.
    var queuedJobs: [PoolJob] {
        jobs[head...].filter { $0.phase == .queued }
    }

    /// How many slots the queue holds, taken or withdrawn ones included (for tests of
    /// compaction).
    var slots: Int { jobs.count - head }

    /// Drops taken slots: at once when every slot has been taken, otherwise only once they are
    /// many and outnumber the others, so that the cost stays O(1) per job.
    private mutating func compact() {
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
    }
}
