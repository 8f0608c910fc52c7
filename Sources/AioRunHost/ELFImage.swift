/// An ELF64 little-endian shared library on disk: its dynamic symbols, the libraries it needs,
/// its run path, and the Swift toolchain that built it. Used for messages (look-alike entries),
/// `--check` and `--inspect`; loading itself relies on the dynamic linker.
///
/// Only the tables asked for are read, with bounded `pread`s (``ELFFileReader``): a 1 GB file
/// costs what its section headers and symbol tables cost, never its size (README, "Failure modes").
struct ELFImage {
    /// A defined dynamic symbol.
    struct Symbol {
        /// Its name.
        let name: String
        /// Its value (an address relative to the library's load address).
        let value: Int
    }

    private struct Section {
        let type: Int
        let flags: Int
        let offset: Int
        let size: Int
        let link: Int
        let entrySize: Int
    }

    private let path: String
    /// Every defined symbol in `.dynsym`.
    let definedDynamicSymbols: [Symbol]
    /// `DT_NEEDED` entries: the libraries the dynamic linker must find.
    let neededLibraries: [String]
    /// `DT_RUNPATH` (or the older `DT_RPATH`) entries.
    let runPath: [String]
    private let sections: [Section]

    /// Symbol and string tables above this size are not read (real plugins have well under 1 MiB).
    private static let tableLimit = 16 << 20

    /// Reads `path`'s section headers and dynamic tables; `nil` if it is unreadable or not an
    /// ELF64 little-endian file.
    init?(path: String) {
        guard let (reader, close) = ELFFileReader.open(path) else { return nil }
        defer { close() }
        guard let header = reader.bytes(at: 0, count: 64), header[0] == 0x7f, header[4] == 2, header[5] == 1 else {
            return nil
        }
        self.path = path
        let sections = Self.sections(reader, header)
        self.sections = sections

        func strings(of table: Section) -> [UInt8]? {
            guard table.link < sections.count, sections[table.link].type == 3,
                sections[table.link].size <= Self.tableLimit
            else { return nil }
            return reader.bytes(at: sections[table.link].offset, count: sections[table.link].size)
        }

        var symbols: [Symbol] = []
        for table in sections where table.type == 11 && table.entrySize >= 24 && table.size <= Self.tableLimit {
            guard let names = strings(of: table), let bytes = reader.bytes(at: table.offset, count: table.size) else {
                continue
            }
            var at = 0
            while at + 24 <= bytes.count {
                defer { at += table.entrySize }
                guard let nameOffset = bytes.u32(at), nameOffset != 0, let index = bytes.u16(at + 6), index != 0,
                    let value = bytes.u64(at + 8), let name = names.cString(nameOffset)
                else { continue }
                symbols.append(Symbol(name: name, value: value))
            }
        }
        definedDynamicSymbols = symbols

        var dynamicStrings: [Int: [String]] = [:]
        for table in sections where table.type == 6 && table.size <= Self.tableLimit {
            guard let names = strings(of: table), let bytes = reader.bytes(at: table.offset, count: table.size) else {
                continue
            }
            var at = 0
            while let tag = bytes.u64(at), tag != 0 {
                if let value = bytes.u64(at + 8), let text = names.cString(value) {
                    dynamicStrings[tag, default: []].append(text)
                }
                at += 16
            }
        }
        neededLibraries = dynamicStrings[1] ?? []
        runPath = (dynamicStrings[29] ?? []) + (dynamicStrings[15] ?? [])
    }

    /// The Swift toolchain recorded in the file (`Swift version 6.3.1 (swift-6.3.1-RELEASE)`), if
    /// any: debug builds carry it in their string sections (`.debug_str`, `.comment`); a stripped
    /// release build may not. Reads those sections in 1 MiB pieces, at most 64 MiB in all.
    var swiftToolchain: String? {
        guard let (reader, close) = ELFFileReader.open(path) else { return nil }
        defer { close() }
        let marker = Array("Swift version ".utf8)
        var budget = 64 << 20
        // Non-allocated sections of strings (SHF_STRINGS, 0x20; not SHF_ALLOC, 0x2).
        for section in sections where section.type == 1 && section.flags & 0x20 != 0 && section.flags & 0x2 == 0 {
            var start = 0
            while start < section.size, budget > 0 {
                let count = min(section.size - start, 1 << 20, budget)
                budget -= count
                // Overlap the pieces by the marker's length plus the longest answer.
                guard
                    let piece = reader.bytes(at: section.offset + start, count: min(count + 160, section.size - start))
                else { break }
                if let found = Self.toolchain(in: piece, marker: marker) { return found }
                start += count
            }
        }
        return nil
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

    private static func toolchain(in bytes: [UInt8], marker: [UInt8]) -> String? {
        guard bytes.count >= marker.count else { return nil }
        var index = 0
        while index <= bytes.count - marker.count {
            if bytes[index] == marker[0] && bytes[index..<index + marker.count].elementsEqual(marker) {
                var end = index
                while end < bytes.count, end - index < 120, bytes[end] != 0, bytes[end] != 0x29 { end += 1 }
                if end < bytes.count, bytes[end] == 0x29 { end += 1 }
                return String(decoding: bytes[index..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }

    /// The section headers whose bytes lie in the file; others are replaced by empty ones so
    /// that `link` indices keep their meaning.
    private static func sections(_ reader: ELFFileReader, _ header: [UInt8]) -> [Section] {
        guard let table = header.u64(0x28), let entrySize = header.u16(0x3A), let count = header.u16(0x3C),
            entrySize >= 64,
            let bytes = reader.bytes(at: table, count: count * entrySize)
        else { return [] }
        let empty = Section(type: 0, flags: 0, offset: 0, size: 0, link: 0, entrySize: 0)
        return (0..<count).map { index in
            let base = index * entrySize
            guard let type = bytes.u32(base + 4), let flags = bytes.u64(base + 8), let offset = bytes.u64(base + 0x18),
                let size = bytes.u64(base + 0x20), let link = bytes.u32(base + 0x28),
                let entry = bytes.u64(base + 0x38),
                type != 8, reader.contains(offset: offset, count: size)
            else { return empty }
            return Section(
                type: type,
                flags: flags,
                offset: offset,
                size: size,
                link: link,
                entrySize: min(entry, 1 << 16)
            )
        }
    }
}
