/// One value of a repeatable `--OPTION [NAME=]VALUE` of the command line (README, Command line):
/// for the plugin instance named `NAME` (its plugin name or alias), or, without `NAME=`, the
/// host-wide default. The name is checked against the loaded plugins only after loading, like
/// `--set`'s.
struct PluginOptionArgument<Value: Sendable>: Sendable {
    /// The plugin instance it is for, or nil for the host-wide default.
    let name: String?
    /// The checked value.
    let value: Value

    /// Parses `[NAME=]VALUE` for `rule`, reading `VALUE` with `input` (nil for text that is not
    /// the right kind of value). A usage error names the option and the text as given:
    /// `--restart-max web=x: expected an integer from 0 to 1000`.
    init<Input>(
        parsing text: String,
        _ rule: OptionRule<Input, Value>,
        input: (String) -> Input?
    ) throws(HostUsageError) {
        var valueText = Substring(text)
        if let equals = text.firstIndex(of: "=") {
            let name = String(text[..<equals])
            guard PluginName.isValid(name) else {
                throw HostUsageError("--\(rule.name) \(text): \"\(name)\" \(PluginName.rule)")
            }
            self.name = name
            valueText = text[text.index(after: equals)...]
        } else {
            name = nil
        }
        guard let given = input(String(valueText)), let value = rule.value(given) else {
            throw HostUsageError("--\(rule.name) \(text): expected \(rule.expected)")
        }
        self.value = value
    }
}
