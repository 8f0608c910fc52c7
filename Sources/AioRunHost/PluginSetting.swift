/// One `--set NAME.KEY=VALUE` of the command line (README, Command line): config value `KEY` of
/// plugin `NAME`. The only place that syntax is read.
struct PluginSetting: Sendable, Equatable {
    /// The plugin's name (checked against the loaded plugins only after loading).
    let name: String
    /// The config key.
    let key: String
    /// The value, as given (everything after the first `=`).
    let value: String

    /// Parses `NAME.KEY=VALUE`: the first `=` ends the path, the first `.` before it ends the name.
    init(parsing text: String) throws(HostUsageError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw HostUsageError("--set \(text): expected NAME.KEY=VALUE (no \"=\")")
        }
        let path = text[..<equals]
        guard let dot = path.firstIndex(of: ".") else {
            throw HostUsageError("--set \(text): expected NAME.KEY=VALUE (no plugin name before \".\")")
        }
        name = String(path[..<dot])
        key = String(path[path.index(after: dot)...])
        value = String(text[text.index(after: equals)...])
        guard PluginName.isValid(name) else { throw HostUsageError("--set \(text): \"\(name)\" \(PluginName.rule)") }
        guard !key.isEmpty else { throw HostUsageError("--set \(text): empty KEY") }
    }
}
