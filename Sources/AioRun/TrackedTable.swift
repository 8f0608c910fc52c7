/// One piece of tracked work (a task or a shield) for reports.
struct Tracked {
    let label: String
    let since: ContinuousClock.Instant
}

/// A unit's work in flight, kept in slots that are reused. A slot's index is the work's ID, valid
/// until the work is removed; only the work itself removes its slot, so an ID is never stale
/// while its owner holds it.
///
/// Not a dictionary on purpose: 100k tracked tasks cost a dictionary about 15 MB of buckets at its
/// peak (keys and values at a 3/4 load factor, and a copy while it grows), and phase 2 had to sort
/// it back into creation order. Slots cost one entry each, are already in creation order
/// (cancelling in creation order is what keeps phase 2 fast: see ``UnitScope/cancelTasks()``),
/// and insert and remove in O(1).
struct TrackedTable {
    private var slots: [Tracked?] = []
    /// Each slot's task (for cancellation), beside `slots` rather than in it: reading a report
    /// from `slots` then never retains a task, an atomic write to memory that the threads
    /// running that task share (at a time-limit expiry with 64k tasks, those retains were a
    /// third of the report's time).
    private var taskSlots: [Task<Void, Never>?] = []
    private var freeSlots: [Int] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Stores `work` and returns its ID.
    mutating func insert(_ work: Tracked) -> Int {
        count += 1
        if let slot = freeSlots.popLast() {
            slots[slot] = work
            return slot
        }
        slots.append(work)
        taskSlots.append(nil)
        return slots.count - 1
    }

    /// Sets the task of the work with `id`.
    mutating func setTask(_ task: Task<Void, Never>, for id: Int) {
        if slots.indices.contains(id), slots[id] != nil { taskSlots[id] = task }
    }

    /// The work with `id`, if it is still there.
    func work(_ id: Int) -> Tracked? {
        slots.indices.contains(id) ? slots[id] : nil
    }

    /// Removes the work with `id`. When the table becomes empty, its slots are cleared, and their
    /// storage is released if it had grown large.
    mutating func remove(_ id: Int) {
        guard slots.indices.contains(id), slots[id] != nil else { return }
        slots[id] = nil
        taskSlots[id] = nil
        count -= 1
        if count == 0 {
            let keep = slots.count <= 64
            slots.removeAll(keepingCapacity: keep)
            taskSlots.removeAll(keepingCapacity: keep)
            freeSlots.removeAll(keepingCapacity: keep)
        } else {
            freeSlots.append(id)
        }
    }

    /// Every task, in slot order (creation order, apart from reused slots).
    var tasks: [Task<Void, Never>] {
        var tasks: [Task<Void, Never>] = []
        tasks.reserveCapacity(count)
        for case let task? in taskSlots {
            tasks.append(task)
        }
        return tasks
    }

    /// Adds every piece of work to `summary` as `kind`, in slot order, without sorting or copying
    /// the table: with 64k stuck tasks this runs at every time-limit expiry. Optimised even in
    /// debug builds (`@_optimize(speed)`): unoptimised, its generic array and iterator calls made
    /// it about 30 ms of CPU for 64k tasks, stretched to 100–200 ms on a busy 2-core machine.
    @_optimize(speed)
    func summarise(as kind: RunningWork.Kind, into summary: inout WorkSummary, now: ContinuousClock.Instant) {
        var index = 0
        while index < slots.count {
            if let work = slots[index] { summary.add(kind, work.label, age: now - work.since) }
            index += 1
        }
    }

    /// Every piece of work, oldest first.
    var oldestFirst: [Tracked] {
        slots.compactMap { $0 }.sorted { $0.since < $1.since }
    }
}
