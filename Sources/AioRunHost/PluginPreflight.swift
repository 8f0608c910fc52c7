/// Placeholder: the pre-flight load of plugin files in a child process.
enum PluginPreflight {
    static let mode = "preflight"
    static func childMain(_ arguments: [String]) -> Int32 { 70 }
}
