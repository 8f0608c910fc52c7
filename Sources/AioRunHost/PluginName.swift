/// Plugin names: `[a-z0-9][a-z0-9_-]{0,63}`.
enum PluginName {
    /// The rule, as said in error messages.
    static let rule = "is not a valid plugin name: it must match [a-z0-9][a-z0-9_-]{0,63}"

    /// Whether `name` follows the rule.
    static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64 else { return false }
        func lowerOrDigit(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        return lowerOrDigit(first) && bytes.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == 0x2d || $0 == 0x5f }
    }
}
