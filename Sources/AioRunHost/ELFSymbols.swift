#if canImport(Glibc)
import Glibc
#endif

/// Reads the defined dynamic symbols of an ELF64 little-endian shared library from its
/// `.dynsym` section, to tell a plugin author which exports look like a misnamed entry point.
enum ELFSymbols {
    /// Defined dynamic symbols whose name suggests a plugin entry, demangled where Swift.
    static func entryLikeExports(of path: String) -> [String] {
        definedDynamicSymbols(of: path)
            .filter { name in
                let lower = name.lowercased()
                return lower.contains("entry") && (lower.contains("aiorun") || lower.contains("plugin"))
            }
            .map { name in SymbolNames.demangle(name).map { "\(name) (\($0))" } ?? name }
    }

    /// Every defined symbol in `.dynsym`, or none if the file cannot be parsed.
    static func definedDynamicSymbols(of path: String) -> [String] {
        guard let bytes = readFile(path, limit: 1 << 30) else { return [] }
        func u16(_ at: Int) -> Int? { at + 2 <= bytes.count ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : nil }
        func u32(_ at: Int) -> Int? {
            guard at + 4 <= bytes.count else { return nil }
            return (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        }
        func u64(_ at: Int) -> Int? {
            guard at + 8 <= bytes.count else { return nil }
            return (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        }
        guard bytes.count >= 64, bytes[4] == 2, bytes[5] == 1,
            let sectionTable = u64(0x28), let sectionSize = u16(0x3A), let sectionCount = u16(0x3C), sectionSize >= 64
        else { return [] }
        func section(_ index: Int) -> (type: Int, offset: Int, size: Int, link: Int, entrySize: Int)? {
            let base = sectionTable + index * sectionSize
            guard let type = u32(base + 4), let offset = u64(base + 0x18), let size = u64(base + 0x20),
                let link = u32(base + 0x28), let entrySize = u64(base + 0x38)
            else { return nil }
            return (type, offset, size, link, entrySize)
        }
        var names: [String] = []
        for index in 0..<sectionCount {
            guard let symbols = section(index), symbols.type == 11, symbols.entrySize >= 24,
                let strings = section(symbols.link), strings.offset + strings.size <= bytes.count
            else { continue }
            var at = symbols.offset
            while at + 24 <= min(bytes.count, symbols.offset + symbols.size) {
                defer { at += symbols.entrySize }
                guard let nameOffset = u32(at), let sectionIndex = u16(at + 6), sectionIndex != 0, nameOffset != 0 else { continue }
                var end = strings.offset + nameOffset
                let start = end
                while end < strings.offset + strings.size && bytes[end] != 0 { end += 1 }
                names.append(String(decoding: bytes[start..<end], as: UTF8.self))
            }
        }
        return names
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
