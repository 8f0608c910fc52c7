import Logging

/// One log line that an isolated plugin's child wrote in the host's JSON format (README,
/// "Logging", "Isolation"), read back so that the parent writes it again in its own format:
/// `{"timestamp":…,"level":…,"label":…,"plugin":…|null,"message":…,"metadata":{…}}`.
struct ChildLogRecord: Equatable {
    /// Its level.
    var level: Logger.Level
    /// Its logger's label.
    var label: String
    /// The plugin it names, if any (nil for the child host's own lines).
    var plugin: String?
    /// Its message.
    var message: String
    /// Its metadata, all strings.
    var metadata: [String: String]

    /// The record in `line`, or nil when the line is not one (a runtime's crash message, say).
    init?(parsing line: Substring) {
        var reader = JSONObjectReader(Array(line.utf8))
        guard let object = reader.object(), reader.atEnd,
            case .string(let levelText)? = object["level"], let level = Logger.Level(rawValue: levelText),
            case .string(let message)? = object["message"]
        else { return nil }
        self.level = level
        self.message = message
        if case .string(let label)? = object["label"] { self.label = label } else { label = "aiorun-host" }
        if case .string(let plugin)? = object["plugin"] { self.plugin = plugin } else { plugin = nil }
        var metadata: [String: String] = [:]
        if case .object(let fields)? = object["metadata"] {
            for (key, value) in fields { if case .string(let text) = value { metadata[key] = text } }
        }
        self.metadata = metadata
    }
}

/// Reads the JSON objects the host's log handler writes: objects whose values are strings, null
/// or such objects. Anything else is refused.
private struct JSONObjectReader {
    enum Value {
        case string(String)
        case null
        case object([String: Value])
    }

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index == bytes.count
        }
    }

    mutating func object() -> [String: Value]? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var fields: [String: Value] = [:]
        if take(UInt8(ascii: "}")) { return fields }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")), let value = value() else { return nil }
            fields[key] = value
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) ? fields : nil
    }

    private mutating func value() -> Value? {
        skipSpace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(Value.string)
        case UInt8(ascii: "{"): return object().map(Value.object)
        case UInt8(ascii: "n"):
            guard bytes[index...].starts(with: Array("null".utf8)) else { return nil }
            index += 4
            return .null
        default: return nil
        }
    }

    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") {
                flush()
                return String(scalars)
            }
            guard byte == UInt8(ascii: "\\") else {
                run.append(byte)
                continue
            }
            guard index < bytes.count else { return nil }
            let escape = bytes[index]
            index += 1
            flush()
            switch escape {
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{c}")
            case UInt8(ascii: "u"):
                guard index + 4 <= bytes.count,
                    let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                else { return nil }
                index += 4
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: scalars.append(Unicode.Scalar(escape))
            }
        }
        return nil
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
            index += 1
        }
    }
}
