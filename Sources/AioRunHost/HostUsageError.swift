/// A bad option or value: exit 64 with one line (see ``HostError``).
struct HostUsageError: Error, CustomStringConvertible, Sendable {
    /// The one-line message.
    let description: String

    /// Creates the error. Control characters, line and paragraph separators and invisible
    /// format characters (such as bidi overrides) are escaped (`\n`, `\u{1B}`): a message
    /// often quotes a config file or an argument, and must stay one line that cannot repaint
    /// the terminal (see README, Failure modes).
    init(_ description: String) {
        var text = ""
        for scalar in description.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                text += scalar.escaped(asASCII: true)
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        self.description = text
    }
}
