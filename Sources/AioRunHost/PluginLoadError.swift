/// A plugin rejected while loading: exit 65, nothing started (README, Failure modes: "Bad plugins are
/// refused before anything runs"); exit 64 when the mistake is in the host's input (``usage``).
struct PluginLoadError: Error, CustomStringConvertible, Sendable {
    /// The loading steps, in order.
    enum Step: String, Sendable {
        /// Turning the argument into an absolute path.
        case resolve
        /// Checking the file: regular, readable, 64-bit ELF for this machine, structurally sound.
        case checkFile = "check file"
        /// Loading every file first in a throwaway child process (`--preflight`, `--check`).
        case preflight = "pre-flight"
        /// `dlopen`.
        case dlopen
        /// Finding `aiorun_plugin_entry`.
        case entrySymbol = "entry symbol"
        /// Calling the entry with the host's ABI number.
        case handshake
        /// Reading the descriptor the entry returned.
        case descriptor
        /// Checking the plugin's name and its uniqueness.
        case name
        /// Creating the plugin instance.
        case create
        /// The host's own start-up check of libAioRunPluginAPI.so.
        case apiSelfCheck = "API self-check"
    }

    /// The argument or path the error is about.
    let path: String
    /// The step that failed.
    let step: Step
    /// Why.
    let reason: String

    /// Set when the mistake is in the host's input (a config file entry), not in the plugin:
    /// where it is. Such an error is a usage error, exit 64.
    let usage: String?

    /// Creates the error.
    init(path: String, step: Step, reason: String, usage: String? = nil) {
        self.path = path
        self.step = step
        self.reason = reason
        self.usage = usage
    }

    /// `plugin <path>: <step>: <reason>` on one line.
    var description: String {
        "plugin \(path): \(step.rawValue): \(reason.split(whereSeparator: \.isNewline).joined(separator: " "))"
    }
}
