/// A bounded account of still-running or abandoned work, built in one pass without sorting, for
/// log lines and reports (see README, "How shutdown proceeds").
///
/// Up to ``listedInFull`` items are listed one by one, oldest first within each kind:
/// `task "spin" (age 1.234s); job "copy" (age 0.100s)`. A longer list is summarised, so that 64k
/// stuck tasks make a line of a few hundred bytes instead of megabytes (and take milliseconds,
/// not the tenth of a second a sorted list of 64k descriptions took): the total, counts by kind,
/// counts by label (the largest groups first, at most ``labelsShown``), the oldest item and the
/// first few. Labels are cut at 80 bytes.
public struct WorkSummary: Sendable, CustomStringConvertible {
    /// How many items are listed one by one before the list is summarised.
    public static let listedInFull = 8
    /// How many label groups a summary names.
    public static let labelsShown = 8

    private struct Group: Hashable {
        let kind: RunningWork.Kind
        let label: String
    }

    private struct GroupCount {
        let group: Group
        var count: Int
    }

    /// How many items were added.
    public var count: Int { elsewhere?.count ?? added }
    /// How many items were added here.
    private var added = 0
    /// A summary made elsewhere (an isolated plugin's process), given whole.
    var elsewhere: (count: Int, description: String)?
    /// Counts by kind, in the order of `RunningWork.Kind.inOrder`.
    private var kindCounts = [Int](repeating: 0, count: RunningWork.Kind.inOrder.count)
    /// Groups in order of first appearance, with their counts.
    private var groups: [GroupCount] = []
    /// An index into `groups`, built only once there are many labels: with a few, comparing
    /// labels (usually small strings, compared by their bits) is cheaper than hashing them.
    private var groupIndex: [Group: Int] = [:]
    private var firstItems: [RunningWork] = []
    private var oldest: RunningWork?
    private var oldestAge = Duration.zero

    /// An empty summary.
    public init() {}

    /// Adds one item. Plain loops and no closures: this runs once per item, 64k times for 64k
    /// stuck tasks, and in debug builds generic iterators and closures cost several times more.
    @_optimize(speed)
    public mutating func add(_ kind: RunningWork.Kind, _ label: String, age: Duration) {
        added += 1
        kindCounts[kind.order] += 1
        countLabel(kind, label)
        if firstItems.count < Self.listedInFull {
            firstItems.append(RunningWork(kind: kind, label: label, age: age))
        }
        if added == 1 || age > oldestAge {
            oldestAge = age
            oldest = RunningWork(kind: kind, label: label, age: age)
        }
    }

    @_optimize(speed)
    private mutating func countLabel(_ kind: RunningWork.Kind, _ label: String) {
        if groupIndex.isEmpty {
            var index = groups.count - 1
            while index >= 0 {
                if groups[index].group.kind == kind && groups[index].group.label == label {
                    groups[index].count += 1
                    return
                }
                index -= 1
            }
            groups.append(GroupCount(group: Group(kind: kind, label: label), count: 1))
            if groups.count > 16 {
                for index in 0..<groups.count { groupIndex[groups[index].group] = index }
            }
            return
        }
        let group = Group(kind: kind, label: label)
        if let index = groupIndex[group] {
            groups[index].count += 1
        } else {
            groupIndex[group] = groups.count
            groups.append(GroupCount(group: group, count: 1))
        }
    }

    /// How many pieces of work of `kind` were added.
    public func count(of kind: RunningWork.Kind) -> Int { kindCounts[kind.order] }

    /// `nothing`; the items one by one; or the summary.
    public var description: String {
        if let elsewhere { return elsewhere.description }
        if count == 0 { return "nothing" }
        if count <= Self.listedInFull {
            let ordered = firstItems.enumerated().sorted { left, right in
                if left.element.kind != right.element.kind { return left.element.kind.order < right.element.kind.order }
                if left.element.age != right.element.age { return left.element.age > right.element.age }
                return left.offset < right.offset
            }
            return ordered.map(\.element.shortened.description).joined(separator: "; ")
        }
        let kinds = RunningWork.Kind.inOrder.filter { kindCounts[$0.order] > 0 }
            .map { "\(kindCounts[$0.order]) \($0.plural(kindCounts[$0.order]))" }
        let largest = groups.enumerated()
            .sorted {
                $0.element.count != $1.element.count ? $0.element.count > $1.element.count : $0.offset < $1.offset
            }
            .prefix(Self.labelsShown)
            .map {
                "\($0.element.group.kind.rawValue) \"\(RunningWork.shortened($0.element.group.label))\" ×\($0.element.count)"
            }
        let more = groups.count > Self.labelsShown ? ", and \(groups.count - Self.labelsShown) more labels" : ""
        let first = firstItems.prefix(3).map(\.shortened.description).joined(separator: "; ")
        return "\(count) items (\(kinds.joined(separator: ", "))); by label: \(largest.joined(separator: ", "))\(more)"
            + "; oldest: \(oldest?.shortened.description ?? "-"); first: \(first), and \(count - min(3, firstItems.count)) more"
    }
}

extension RunningWork.Kind {
    /// Every kind, in the order reports list them.
    static let inOrder: [Self] = [.callback, .task, .shield, .job, .queuedJob]

    /// The kind's place in ``inOrder``.
    var order: Int {
        switch self {
        case .callback: return 0
        case .task: return 1
        case .shield: return 2
        case .job: return 3
        case .queuedJob: return 4
        }
    }

    /// `task`/`tasks`, `queued job`/`queued jobs`.
    func plural(_ count: Int) -> String { count == 1 ? rawValue : rawValue + "s" }
}

extension RunningWork {
    /// `label` cut to at most 80 bytes, with `…` where it was cut.
    static func shortened(_ label: String) -> String {
        guard label.utf8.count > 80 else { return label }
        var cut = ""
        for character in label {
            if cut.utf8.count + character.utf8.count > 79 { break }
            cut.append(character)
        }
        return cut + "…"
    }

    /// This work with its label shortened.
    var shortened: RunningWork {
        label.utf8.count <= 80 ? self : RunningWork(kind: kind, label: Self.shortened(label), age: age)
    }
}
