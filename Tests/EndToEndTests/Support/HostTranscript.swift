import Foundation

/// Reading the host's output for the readiness, restart and drain tests: where lines are and what
/// the shutdown report says (README, "How shutdown proceeds").
extension ChildProcess {
    /// The index of the first line containing `text` at or after `start`, or nil.
    func index(of text: String, from start: Int) -> Int? {
        let lines = output
        guard start < lines.count else { return nil }
        return lines[start...].firstIndex { $0.text.contains(text) }
    }

    /// The index of the last line containing `text`, or nil.
    func lastIndex(of text: String) -> Int? {
        output.lastIndex { $0.text.contains(text) }
    }

    /// The shutdown report's `restarts` column for plugin `name`: the report is a table whose
    /// header line holds `plugin  outcome  restarts  total …`, then one row per plugin. Nil when
    /// there is no report, no such column or no row for `name`.
    func reportedRestarts(of name: String) -> Int? {
        let lines = output.map(\.text)
        guard let title = lines.lastIndex(where: { $0.contains("shutdown report:") }) else { return nil }
        var columns: (plugin: Int, restarts: Int)?
        for line in lines[title...].dropFirst() {
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let found = columns else {
                if let plugin = cells.firstIndex(of: "plugin"), let restarts = cells.firstIndex(of: "restarts") {
                    columns = (plugin, restarts)
                }
                continue
            }
            if cells.count > found.restarts, cells[found.plugin] == name {
                return Int(cells[found.restarts])
            }
        }
        return nil
    }
}
