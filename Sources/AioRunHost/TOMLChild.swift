/// Placeholder: the TOML reader run in a child process.
enum TOMLChild {
    static let mode = "toml"
    static func childMain(_ arguments: [String]) -> Int32 { 70 }
}
