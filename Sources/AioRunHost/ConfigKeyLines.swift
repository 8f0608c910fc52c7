/// Where each key of the config file stands, by section, for messages. TOMLKit gives positions
/// only for syntax errors, so the file's lines are scanned for `key =` under their headers.
/// Lines end at `\n` (a `\r` before it is dropped: Swift's `Character` would take `\r\n` as one
/// character and never split there).
struct KeyLines: Sendable {
    enum Section: Hashable, Sendable {
        case top
        case plugin(Int)
        case pluginConfig(Int)
        case other
    }

    private var lines: [Section: [String: Int]] = [:]
    private var headers: [Int: Int] = [:]

    init(_ text: String) {
        var section = Section.top
        var pluginIndex = -1
        for (offset, bytes) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated()
        {
            let number = offset + 1
            var raw = Substring(bytes)
            if raw.utf8.last == UInt8(ascii: "\r") { raw = Substring(raw.utf8.dropLast()) }
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix { $0 != "]" }.filter { $0 != " " }
                if name == "plugin" {
                    pluginIndex += 1
                    headers[pluginIndex] = number
                    section = .plugin(pluginIndex)
                } else {
                    section = .other
                }
            } else if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }.filter { $0 != " " }
                section = name == "plugin.config" && pluginIndex >= 0 ? .pluginConfig(pluginIndex) : .other
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                var key = String(line[..<equals]).trimmingCharacters(in: " \t")
                if key.count >= 2, key.first == "'" { key = String(key.dropFirst().dropLast()) }
                if key.count >= 2, key.first == "\"" { key = Self.unescaped(key.dropFirst().dropLast()) }
                if lines[section, default: [:]][key] == nil { lines[section, default: [:]][key] = number }
            }
        }
    }

    func line(of key: String, in section: Section) -> Int? { lines[section]?[key] }

    /// A basic string's escapes (`\n`, `\"`, `\u001B`, …) resolved, so that a quoted key is
    /// found under the name the parser gives it; anything unknown is kept as written.
    static func unescaped(_ text: Substring) -> String {
        var result = ""
        var rest = text.unicodeScalars[...]
        while let scalar = rest.popFirst() {
            guard scalar == "\\", let code = rest.popFirst() else {
                result.unicodeScalars.append(scalar)
                continue
            }
            let simple: [Unicode.Scalar: Unicode.Scalar] = [
                "b": "\u{8}", "t": "\t", "n": "\n", "f": "\u{C}", "r": "\r", "e": "\u{1B}", "\"": "\"", "\\": "\\",
            ]
            if let replacement = simple[code] {
                result.unicodeScalars.append(replacement)
            } else if code == "u" || code == "U" {
                let digits = code == "u" ? 4 : 8
                let hex = String(String.UnicodeScalarView(rest.prefix(digits)))
                if hex.count == digits, let value = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(value) {
                    result.unicodeScalars.append(decoded)
                    rest = rest.dropFirst(digits)
                } else {
                    result.unicodeScalars.append(contentsOf: [scalar, code])
                }
            } else {
                result.unicodeScalars.append(contentsOf: [scalar, code])
            }
        }
        return result
    }
    func header(of plugin: Int) -> Int? { headers[plugin] }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
