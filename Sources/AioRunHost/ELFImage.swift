#if canImport(Glibc)
import Glibc
#endif

/// An ELF64 little-endian shared library read from disk: its dynamic symbols, the libraries it
/// needs, its run path, and the Swift toolchain that built it. Used for messages (look-alike
/// entries), `--check` and `--inspect`; loading itself relies on the dynamic linker.
struct ELFImage {
    struct Symbol {
        let name: String
        let value: Int
    }

    private let bytes: [UInt8]
    private let sections: [(type: Int, offset: Int, size: Int, link: Int, entrySize: Int)]

    /// Reads `path`; `nil` if it is unreadable or not an ELF64 little-endian file.
    init?(path: String) {
        guard let bytes = Self.readFile(path, limit: 1 << 30), bytes.count >= 64, bytes[4] == 2, bytes[5] == 1 else {
            return nil
        }
        self.bytes = bytes
        // Every offset and size read from the file is checked against the file's size before it
        // is used in arithmetic: a crafted header must give "no symbols", never a trap.
        var sections: [(Int, Int, Int, Int, Int)] = []
        if let table = Self.u64(bytes, 0x28), table <= bytes.count, let entrySize = Self.u16(bytes, 0x3A),
            let count = Self.u16(bytes, 0x3C), entrySize >= 64
        {
            for index in 0..<count {
                let base = table + index * entrySize  // ≤ 1 GiB + 65535 × 65535: no overflow
                guard let type = Self.u32(bytes, base + 4), let offset = Self.u64(bytes, base + 0x18),
                    let size = Self.u64(bytes, base + 0x20), let link = Self.u32(bytes, base + 0x28),
                    let entry = Self.u64(bytes, base + 0x38)
                else { continue }
                // NOBITS sections (type 8) have no bytes in the file; keep them out of reach.
                let usable = type != 8 && offset <= bytes.count && size <= bytes.count - offset
                sections.append(usable ? (type, offset, size, link, min(entry, 1 << 16)) : (0, 0, 0, 0, 0))
            }
        }
        self.sections = sections
    }

    /// Every defined symbol in `.dynsym`.
    var definedDynamicSymbols: [Symbol] {
        var symbols: [Symbol] = []
        for table in sections where table.type == 11 && table.entrySize >= 24 && table.link < sections.count
            && sections[table.link].type == 3
        {
            let strings = sections[table.link]
            var at = table.offset
            while at + 24 <= table.offset + table.size {
                defer { at += table.entrySize }
                guard let nameOffset = Self.u32(bytes, at), nameOffset != 0, let index = Self.u16(bytes, at + 6), index != 0,
                    let value = Self.u64(bytes, at + 8), let name = string(in: strings, at: nameOffset)
                else { continue }
                symbols.append(Symbol(name: name, value: value))
            }
        }
        return symbols
    }

    /// `DT_NEEDED` entries: the libraries the dynamic linker must find.
    var neededLibraries: [String] { dynamicStrings(tag: 1) }

    /// `DT_RUNPATH` (or the older `DT_RPATH`) entries.
    var runPath: [String] { dynamicStrings(tag: 29) + dynamicStrings(tag: 15) }

    /// The Swift toolchain recorded in the file (`Swift version 6.3.1 (swift-6.3.1-RELEASE)`), if
    /// any: debug builds carry it; a stripped release build may not.
    var swiftToolchain: String? {
        let marker = Array("Swift version ".utf8)
        guard let start = firstIndex(of: marker) else { return nil }
        var end = start
        while end < bytes.count, end - start < 120, bytes[end] != 0, bytes[end] != 0x29 { end += 1 }
        if end < bytes.count, bytes[end] == 0x29 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Defined dynamic symbols whose name suggests a plugin entry, demangled where Swift.
    var entryLikeExports: [String] {
        definedDynamicSymbols.map(\.name)
            .filter { name in
                let lower = name.lowercased()
                return lower.contains("entry") && (lower.contains("aiorun") || lower.contains("plugin"))
            }
            .map { name in SymbolNames.demangle(name).map { "\(name) (\($0))" } ?? name }
    }

    private func dynamicStrings(tag wanted: Int) -> [String] {
        var found: [String] = []
        for table in sections where table.type == 6 && table.link < sections.count && sections[table.link].type == 3 {
            let strings = sections[table.link]
            var at = table.offset
            while at + 16 <= table.offset + table.size {
                defer { at += 16 }
                guard let tag = Self.u64(bytes, at), tag != 0 else { break }
                if tag == wanted, let value = Self.u64(bytes, at + 8), let text = string(in: strings, at: value) {
                    found.append(text)
                }
            }
        }
        return found
    }

    private func string(in table: (type: Int, offset: Int, size: Int, link: Int, entrySize: Int), at offset: Int) -> String? {
        guard offset >= 0, offset < table.size else { return nil }
        let start = table.offset + offset  // both within the file: no overflow
        guard start < bytes.count else { return nil }
        var end = start
        while end < min(bytes.count, table.offset + table.size), bytes[end] != 0 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    private func firstIndex(of marker: [UInt8]) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        var index = 0
        while index <= bytes.count - marker.count {
            if bytes[index] == marker[0] && Array(bytes[index..<index + marker.count]) == marker { return index }
            index += 1
        }
        return nil
    }

    private static func u16(_ bytes: [UInt8], _ at: Int) -> Int? {
        at >= 0 && at <= bytes.count - 2 ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : nil
    }

    private static func u32(_ bytes: [UInt8], _ at: Int) -> Int? {
        guard at >= 0, at <= bytes.count - 4 else { return nil }
        return (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
    }

    /// Values of 2^48 and more cannot be offsets into a file read into memory: `nil`.
    private static func u64(_ bytes: [UInt8], _ at: Int) -> Int? {
        guard at >= 0, at <= bytes.count - 8, bytes[at + 7] == 0, bytes[at + 6] == 0 else { return nil }
        return (0..<6).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
    }

    private static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0, Int(info.st_size) <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            filled += count
        }
        return bytes
    }
}
