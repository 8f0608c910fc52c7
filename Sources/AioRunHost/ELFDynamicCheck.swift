/// The dynamic section of a plugin file and everything the loader reaches through it, checked
/// before `dlopen` (README, "Failure modes"): the entries end with DT_NULL; the string table,
/// symbol table, hash tables, relocation tables, init/fini arrays and version tables lie inside
/// loaded segments with sizes that fit; every string offset is inside the string table; chains
/// end; every relocation writes into a writable segment and names a symbol that exists; symbol
/// version indices are defined. glibc dereferences all of these without checks, so each one left
/// out is a SIGSEGV, an ld.so assertion (exit 127) or an endless loop inside `dlopen`.
struct ELFDynamicCheck {
    let reader: ELFFileReader
    let segments: ELFSegments
    /// The entries (tag, value), in order: a few dozen, so scanning beats hashing here.
    private(set) var entries: [(tag: Int, value: Int)] = []
    /// The string table (DT_STRTAB, DT_STRSZ bytes).
    private(set) var strings: [UInt8] = []
    /// The symbol table's address and the number of symbols the hash tables reach.
    var symbolTable = 0
    var symbolCount = 0
    /// The checked DT_GNU_HASH table, for lookups.
    var gnuHashTable: GNUHash?

    // Tags (elf.h).
    static let needed = 1, pltRelocationSize = 2, pltGOT = 3, hash = 4, stringTable = 5, symbolTableTag = 6
    static let rela = 7, relaSize = 8, relaEntry = 9, stringSize = 10, symbolEntry = 11, initFunction = 12
    static let finiFunction = 13, soname = 14, rpath = 15, pltRelocationKind = 20, textRelocations = 22,
        jumpRelocations = 23
    static let initArray = 25, finiArray = 26, initArraySize = 27, finiArraySize = 28, runpath = 29, flags = 30
    static let preinitArray = 32, preinitArraySize = 33, relrSize = 35, relr = 36, relrEntry = 37
    static let relativeCount = 0x6fff_fff9, gnuHash = 0x6fff_fef5, tlsDescPLT = 0x6fff_fef6, tlsDescGOT = 0x6fff_fef7
    static let versionSymbols = 0x6fff_fff0, versionDefinitions = 0x6fff_fffc, versionNeeds = 0x6fff_fffe
    static let auxiliary = 0x7fff_fffd, filter = 0x7fff_ffff

    /// The most entries, chain steps or relocations any one table may have: far above real
    /// plugins (a 37 MB server plugin has about 10^5 relocations), and a bound on the time a
    /// crafted file can cost.
    static let stepLimit = 1 << 24

    init(_ reader: ELFFileReader, _ segments: ELFSegments) {
        self.reader = reader
        self.segments = segments
    }

    /// Runs every check; afterwards ``lookUp(_:)`` finds symbols as the loader would.
    mutating func verify() throws(ELFDefect) {
        try readEntries()
        try readStrings()
        try checkStringTags()
        try checkHashTables()
        try checkSymbols()
        let versionCount = try checkVersions()
        try checkVersionIndices(count: versionCount)
        try checkRelocations()
        try checkCodeAndArrays()
    }

    /// The last value of `tag` (the loader keeps the last one), if any.
    func value(_ tag: Int) -> Int? { entries.last { $0.tag == tag }?.value }

    /// Every value of `tag`, in order.
    func values(_ tag: Int) -> [Int] { entries.filter { $0.tag == tag }.map(\.value) }

    /// A table at the address in `tag`, of `count` bytes, inside the file-backed part of a loaded
    /// segment; its file offset.
    func table(_ tag: Int, count: Int, name: String) throws(ELFDefect) -> Int {
        let address = value(tag) ?? 0
        guard let offset = segments.fileOffset(of: address, count: count) else {
            throw ELFDefect(
                reason:
                    "its \(name) at 0x\(String(address, radix: 16)) (\(count) bytes) does not lie inside a loaded segment"
            )
        }
        return offset
    }

    func read(_ offset: Int, _ count: Int, _ name: String) throws(ELFDefect) -> [UInt8] {
        guard let bytes = reader.bytes(at: offset, count: count) else {
            throw ELFDefect(reason: "cannot read its \(name) (\(count) bytes)")
        }
        return bytes
    }

    // MARK: - Entries and strings

    private mutating func readEntries() throws(ELFDefect) {
        let dynamic = segments.dynamicSegment
        let size = min(dynamic.fileSize, 1 << 20)
        let bytes = try read(dynamic.offset, size - size % 16, "dynamic section")
        entries.reserveCapacity(64)
        var at = 0
        while true {
            guard let tag = bytes.u64(at), let value = bytes.u64(at + 8) else {
                throw ELFDefect(reason: "its dynamic section has no terminating DT_NULL entry")
            }
            if tag == 0 { break }
            entries.append((tag, value))
            at += 16
        }
    }

    private mutating func readStrings() throws(ELFDefect) {
        guard value(Self.stringTable) != nil, let size = value(Self.stringSize), size > 0 else {
            throw ELFDefect(reason: "its dynamic section has no string table (DT_STRTAB and DT_STRSZ)")
        }
        guard size <= ELFFileReader.maximumRead else {
            throw ELFDefect(reason: "its string table claims \(size) bytes")
        }
        strings = try read(
            try table(Self.stringTable, count: size, name: "string table (DT_STRTAB)"),
            size,
            "string table"
        )
        // A final NUL makes every offset below DT_STRSZ a terminated string.
        guard strings.last == 0 else {
            throw ELFDefect(reason: "its string table (DT_STRTAB) does not end with a NUL byte")
        }
    }

    func string(_ offset: Int, _ what: @autoclosure () -> String) throws(ELFDefect) -> String {
        try requireString(offset, what())
        return strings.cString(offset) ?? ""
    }

    /// Checks that `offset` starts a string of the string table, without making one (the table
    /// ends with a NUL, so every offset inside it does).
    func requireString(_ offset: Int, _ what: @autoclosure () -> String) throws(ELFDefect) {
        guard offset >= 0, offset < strings.count else {
            throw ELFDefect(
                reason: "\(what()) names string \(offset), outside its string table (\(strings.count) bytes)"
            )
        }
    }

    private func checkStringTags() throws(ELFDefect) {
        for (tag, name) in [
            (Self.needed, "DT_NEEDED"), (Self.soname, "DT_SONAME"), (Self.rpath, "DT_RPATH"),
            (Self.runpath, "DT_RUNPATH"),
            (Self.auxiliary, "DT_AUXILIARY"), (Self.filter, "DT_FILTER"),
        ] {
            for entry in entries where entry.tag == tag { try requireString(entry.value, "its \(name) entry") }
        }
    }

    // MARK: - Symbols

    private mutating func checkSymbols() throws(ELFDefect) {
        guard value(Self.symbolTableTag) != nil else {
            throw ELFDefect(reason: "its dynamic section has no symbol table (DT_SYMTAB)")
        }
        if let entry = value(Self.symbolEntry), entry != 24 {
            throw ELFDefect(reason: "its symbols are \(entry) bytes each (DT_SYMENT), ELF64 symbols are 24")
        }
        let offset = try table(Self.symbolTableTag, count: symbolCount * 24, name: "symbol table (DT_SYMTAB)")
        symbolTable = offset
        let symbols = try read(offset, symbolCount * 24, "symbol table")
        for index in 0..<symbolCount {
            try requireString(symbols.u32(index * 24) ?? 0, "symbol \(index)")
            // A defined symbol (not absolute, common or special) is an address in the library:
            // relocations against it make pointers the plugin's code follows.
            let type = Int(symbols[index * 24 + 4]) & 0xf
            let section = symbols.u16(index * 24 + 6) ?? 0
            let value = symbols.u64(index * 24 + 8) ?? 0
            guard section != 0, section < 0xff00, type != 6 else { continue }
            let inside =
                type == 2 || type == 10
                ? isCode(value) : segments.loads.contains { value >= $0.address && value <= $0.address + $0.memorySize }
            guard inside else {
                let name = strings.cString(symbols.u32(index * 24) ?? 0) ?? ""
                throw ELFDefect(
                    reason: type == 2 || type == 10
                        ? "its symbol \(index) (\(name)), a function at 0x\(String(value, radix: 16)), is not in an executable segment"
                        : "its symbol \(index) (\(name)) at 0x\(String(value, radix: 16)) lies outside its loaded segments"
                )
            }
        }
    }

    /// The symbol `index` of the symbol table: its name offset, info byte, section index, value.
    func symbol(_ index: Int) -> (name: Int, info: Int, section: Int, value: Int)? {
        guard index >= 0, index < symbolCount, let bytes = reader.bytes(at: symbolTable + index * 24, count: 24) else {
            return nil
        }
        return (bytes.u32(0) ?? 0, Int(bytes[4]), bytes.u16(6) ?? 0, bytes.u64(8) ?? 0)
    }
}
