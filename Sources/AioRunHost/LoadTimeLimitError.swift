/// Loading and creating the plugins took longer than `--load-timeout`: exit 65, nothing started.
struct LoadTimeLimitError: Error, CustomStringConvertible {
    /// The step that was still running.
    let step: LoadProgress.Step?
    /// The limit.
    let limit: Duration

    /// `plugin <path>: <step>: still running after the load time limit …`, like other rejections.
    var description: String {
        let running = step.map { " after \(Self.seconds(.now - $0.since))" } ?? ""
        let what =
            step?.step == "create" ? "the initializer of plugin \(step?.name ?? "?") is still running" : "still running"
        let reason =
            "\(what)\(running): the load time limit of \(Self.seconds(limit)) expired (--load-timeout); "
            + "no plugin was started"
        guard let step else { return "loading plugins: \(reason)" }
        return "plugin \(step.plugin): \(step.step): \(reason)"
    }

    /// `1.234s`.
    static func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }
}
