/// A value of a parsed config file, decoded from libAioRunTOML's encoding (see
/// Sources/AioRunTOML/TOMLExport.swift for the format).
indirect enum ConfigValue: Sendable {
    case table(ConfigTable)
    case array([ConfigValue])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    /// A TOML type the host accepts nowhere (dates and times), by name.
    case other(String)

    var string: String? { if case .string(let value) = self { value } else { nil } }
    var int: Int? { if case .int(let value) = self { value } else { nil } }
    var double: Double? { if case .double(let value) = self { value } else { nil } }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    var array: [ConfigValue]? { if case .array(let value) = self { value } else { nil } }
    var table: ConfigTable? { if case .table(let value) = self { value } else { nil } }

    /// Nesting beyond this is refused rather than recursed into.
    static let maximumDepth = 64

    /// Decodes a whole document; nil if the bytes are not a well-formed encoded table.
    static func decodeDocument(_ bytes: [UInt8]) -> ConfigTable? {
        var reader = Reader(bytes: bytes)
        guard let value = reader.value(depth: 0), reader.atEnd, case .table(let table) = value else { return nil }
        return table
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset == bytes.count }

        mutating func value(depth: Int) -> ConfigValue? {
            guard depth <= ConfigValue.maximumDepth, offset < bytes.count else { return nil }
            let tag = bytes[offset]
            offset += 1
            switch tag {
            case UInt8(ascii: "t"):
                guard let count = number(until: ":") else { return nil }
                var entries: [(String, ConfigValue)] = []
                for _ in 0..<count {
                    guard case .string(let key)? = value(depth: depth + 1), let item = value(depth: depth + 1) else {
                        return nil
                    }
                    entries.append((key, item))
                }
                return .table(ConfigTable(entries))
            case UInt8(ascii: "a"):
                guard let count = number(until: ":") else { return nil }
                var items: [ConfigValue] = []
                for _ in 0..<count {
                    guard let item = value(depth: depth + 1) else { return nil }
                    items.append(item)
                }
                return .array(items)
            case UInt8(ascii: "s"):
                return text().map(ConfigValue.string)
            case UInt8(ascii: "o"):
                return text().map(ConfigValue.other)
            case UInt8(ascii: "i"):
                return field(until: ";").flatMap { Int($0) }.map(ConfigValue.int)
            case UInt8(ascii: "f"):
                return field(until: ";").flatMap { Double($0) }.map(ConfigValue.double)
            case UInt8(ascii: "b"):
                switch field(until: ";") {
                case "1": return .bool(true)
                case "0": return .bool(false)
                default: return nil
                }
            default:
                return nil
            }
        }

        private mutating func field(until terminator: Unicode.Scalar) -> String? {
            guard let end = bytes[offset...].firstIndex(of: UInt8(ascii: terminator)) else { return nil }
            defer { offset = end + 1 }
            return String(decoding: bytes[offset..<end], as: UTF8.self)
        }

        private mutating func number(until terminator: Unicode.Scalar) -> Int? {
            guard let count = field(until: terminator).flatMap({ Int($0) }), count >= 0, count <= bytes.count else {
                return nil
            }
            return count
        }

        private mutating func text() -> String? {
            guard let count = number(until: ":"), count <= bytes.count - offset else { return nil }
            defer { offset += count }
            return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
        }
    }
}

/// A table of a parsed config file: its keys in the reader's order, and a dictionary for
/// lookups, so that reading every key of a table with many keys stays linear.
struct ConfigTable: Sendable {
    /// The table's keys, in the order the reader gave them (each once).
    let keys: [String]
    private let values: [String: ConfigValue]

    /// A table of `entries`; a key given twice (TOML forbids it, so only a damaged encoding can)
    /// keeps its first value.
    init(_ entries: [(String, ConfigValue)]) {
        var keys: [String] = []
        var values: [String: ConfigValue] = [:]
        keys.reserveCapacity(entries.count)
        values.reserveCapacity(entries.count)
        for (key, value) in entries where values[key] == nil {
            keys.append(key)
            values[key] = value
        }
        self.keys = keys
        self.values = values
    }

    /// The value of `key`, if present.
    subscript(key: String) -> ConfigValue? { values[key] }
}
