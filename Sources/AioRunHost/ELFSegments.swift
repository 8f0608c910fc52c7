/// Why a plugin file fails a structural check: the reason shown after `check file:`.
struct ELFDefect: Error {
    /// One line, without the path.
    let reason: String
}

/// The ELF header's table positions and the program headers of a 64-bit little-endian file,
/// checked the way a dynamic loader needs them before it maps anything (README, "Failure modes"):
/// the header tables inside the file with the right entry sizes, every loadable segment's bytes
/// inside the file (a file cut short makes `dlopen` die of SIGBUS), sizes and alignments sane,
/// and every other segment the loader reads inside a loaded one.
struct ELFSegments {
    /// One program header.
    struct Segment {
        let type: Int
        let flags: Int
        let offset: Int
        let address: Int
        let fileSize: Int
        let memorySize: Int
        let alignment: Int

        var isExecutable: Bool { flags & 1 != 0 }
        var isWritable: Bool { flags & 2 != 0 }
    }

    static let load = 1, dynamic = 2, interpreter = 3, note = 4, headerTable = 6, tls = 7
    static let ehFrame = 0x6474_e550, stack = 0x6474_e551, relro = 0x6474_e552, property = 0x6474_e553

    /// The PT_LOAD segments, in ascending address order.
    let loads: [Segment]
    /// The one PT_DYNAMIC segment.
    let dynamicSegment: Segment

    /// Addresses above this are no user-space address on any 64-bit Linux (47 bits on x86_64,
    /// at most 52 with five-level tables).
    static let addressLimit = 1 << 52

    /// Reads and checks the ELF header's tables and the program headers.
    init(_ reader: ELFFileReader) throws(ELFDefect) {
        guard let header = reader.bytes(at: 0, count: 64) else {
            throw ELFDefect(
                reason:
                    "is cut short: the ELF header needs 64 bytes, the file has \(reader.size) (a copy in progress or a full disk?)"
            )
        }
        try Self.checkSectionHeaderTable(reader, header)

        let tableOffset = header.u64(0x20) ?? 0
        let entrySize = header.u16(0x36) ?? 0
        let count = header.u16(0x38) ?? 0
        guard entrySize == 56 else {
            throw ELFDefect(reason: "has program headers of \(entrySize) bytes each, an ELF64 file has 56")
        }
        guard count > 0, count < 0xffff else {
            throw ELFDefect(
                reason: "has \(count) program headers; a shared library has at least one and fewer than 65535"
            )
        }
        try Self.requireInFile(reader, offset: tableOffset, count: count * 56, what: "the program header table")
        guard let table = reader.bytes(at: tableOffset, count: count * 56) else {
            throw ELFDefect(reason: "cannot read its program header table")
        }

        var segments: [Segment] = []
        for index in 0..<count {
            let base = index * 56
            segments.append(
                Segment(
                    type: table.u32(base) ?? 0,
                    flags: table.u32(base + 4) ?? 0,
                    offset: table.u64(base + 8) ?? 0,
                    address: table.u64(base + 16) ?? 0,
                    fileSize: table.u64(base + 32) ?? 0,
                    memorySize: table.u64(base + 40) ?? 0,
                    alignment: table.u64(base + 48) ?? 0
                )
            )
        }

        var loads: [Segment] = []
        for (index, segment) in segments.enumerated() where segment.type == Self.load {
            try Self.checkLoad(segment, index: index, previous: loads.last, reader)
            loads.append(segment)
        }
        guard !loads.isEmpty else { throw ELFDefect(reason: "has no loadable segment (PT_LOAD)") }
        self.loads = loads

        let dynamics = segments.filter { $0.type == Self.dynamic }
        guard dynamics.count == 1, let dynamicSegment = dynamics.first else {
            throw ELFDefect(
                reason: dynamics.isEmpty
                    ? "has no dynamic section (PT_DYNAMIC), so no loader can link it"
                    : "has \(dynamics.count) dynamic sections (PT_DYNAMIC); a shared library has one"
            )
        }
        self.dynamicSegment = dynamicSegment

        for (index, segment) in segments.enumerated() where segment.type != Self.load {
            try checkOther(segment, index: index, reader)
        }
    }

    /// The file offset of `[address, address + count)` when all of it lies in the file-backed part
    /// of one loaded segment; `nil` otherwise.
    func fileOffset(of address: Int, count: Int) -> Int? {
        guard address >= 0, count >= 0, address < Self.addressLimit, count < Self.addressLimit else { return nil }
        for segment in loads where address >= segment.address && address + count <= segment.address + segment.fileSize {
            return segment.offset + (address - segment.address)
        }
        return nil
    }

    /// The file offset of `address` and how many bytes from there on the file backs in the same
    /// loaded segment; `nil` if `address` is not file-backed.
    func fileBacked(from address: Int) -> (offset: Int, available: Int)? {
        guard address >= 0, address < Self.addressLimit else { return nil }
        for segment in loads where address >= segment.address && address < segment.address + segment.fileSize {
            return (segment.offset + (address - segment.address), segment.address + segment.fileSize - address)
        }
        return nil
    }

    /// The loaded segment whose memory holds all of `[address, address + count)`, if any.
    func segment(holding address: Int, count: Int) -> Segment? {
        guard address >= 0, count >= 0, address < Self.addressLimit, count < Self.addressLimit else { return nil }
        return loads.first { address >= $0.address && address + count <= $0.address + $0.memorySize }
    }

    // MARK: - Checks

    /// `is cut short: … ends at byte N, the file has M` for a range past the end of the file.
    static func requireInFile(
        _ reader: ELFFileReader,
        offset: Int,
        count: Int,
        what: @autoclosure () -> String
    ) throws(ELFDefect) {
        guard !reader.contains(offset: offset, count: count) else { return }
        let end = offset.addingReportingOverflow(count)
        guard offset >= 0, count >= 0, !end.overflow, end.partialValue < Self.addressLimit else {
            let start = offset >= Int.max >> 1 ? "an offset beyond 2^62" : "offset \(offset)"
            let size = count >= Int.max >> 1 ? "a size beyond 2^62" : "\(count) bytes"
            throw ELFDefect(reason: "\(what()) lies outside the file (\(start), \(size))")
        }
        throw ELFDefect(
            reason:
                "is cut short: \(what()) ends at byte \(end.partialValue), the file has \(reader.size) (a copy in progress or a full disk?)"
        )
    }

    /// The section headers are not needed to load, but a real linker writes them last: a table
    /// that does not fit is the surest sign of a file cut short, and the look-alike listing and
    /// `--inspect` read them.
    private static func checkSectionHeaderTable(_ reader: ELFFileReader, _ header: [UInt8]) throws(ELFDefect) {
        let tableOffset = header.u64(0x28) ?? 0
        let entrySize = header.u16(0x3A) ?? 0
        var count = header.u16(0x3C) ?? 0
        guard tableOffset != 0 || count != 0 else { return }
        guard entrySize == 64 else {
            throw ELFDefect(reason: "has section headers of \(entrySize) bytes each, an ELF64 file has 64")
        }
        if count == 0 {
            // Extended numbering (65280 sections or more): the count is the first header's size.
            try requireInFile(reader, offset: tableOffset, count: 64, what: "the section header table")
            count = reader.bytes(at: tableOffset, count: 64)?.u64(0x20) ?? 0
        }
        guard count > 0, count <= 1 << 20 else {
            throw ELFDefect(reason: "has \(count) section headers at offset \(tableOffset); expected 1 to 1048576")
        }
        try requireInFile(reader, offset: tableOffset, count: count * 64, what: "the section header table")
        guard let table = reader.bytes(at: tableOffset, count: count * 64) else {
            throw ELFDefect(reason: "cannot read its section header table")
        }
        for index in 0..<count {
            let base = index * 64
            let type = table.u32(base + 4) ?? 0
            let offset = table.u64(base + 0x18) ?? 0
            let size = table.u64(base + 0x20) ?? 0
            // SHT_NULL and SHT_NOBITS (.bss) have no bytes in the file.
            guard type != 0, type != 8, size > 0 else { continue }
            try requireInFile(reader, offset: offset, count: size, what: "section \(index)")
        }
    }

    private static func checkLoad(
        _ segment: Segment,
        index: Int,
        previous: Segment?,
        _ reader: ELFFileReader
    ) throws(ELFDefect) {
        let name = "loadable segment \(index) (PT_LOAD)"
        try requireInFile(reader, offset: segment.offset, count: segment.fileSize, what: name)
        guard segment.fileSize <= segment.memorySize else {
            throw ELFDefect(
                reason:
                    "\(name) has more bytes in the file (\(segment.fileSize)) than in memory (\(segment.memorySize))"
            )
        }
        guard segment.address < addressLimit, segment.memorySize < addressLimit,
            segment.address + segment.memorySize < addressLimit
        else {
            throw ELFDefect(
                reason:
                    "\(name) lies outside any possible address space (address 0x\(String(segment.address, radix: 16)), \(segment.memorySize) bytes)"
            )
        }
        guard
            segment.alignment <= 1 || (segment.alignment & (segment.alignment - 1) == 0 && segment.alignment <= 1 << 30)
        else {
            throw ELFDefect(reason: "\(name) has alignment \(segment.alignment), not a power of two up to 1 GiB")
        }
        if segment.alignment > 1, segment.offset % segment.alignment != segment.address % segment.alignment {
            throw ELFDefect(
                reason:
                    "\(name) has offset 0x\(String(segment.offset, radix: 16)) and address 0x\(String(segment.address, radix: 16)) that disagree modulo its alignment \(segment.alignment)"
            )
        }
        if let previous, segment.address < previous.address + previous.memorySize {
            throw ELFDefect(reason: "\(name) overlaps or precedes the one before it; loadable segments must ascend")
        }
    }

    /// Every other segment that the loader (or the unwinder, through `dl_iterate_phdr`) reads
    /// must lie in a loaded segment, its bytes in the file.
    private func checkOther(_ segment: Segment, index: Int, _ reader: ELFFileReader) throws(ELFDefect) {
        let fileBacked: Bool
        switch segment.type {
        case Self.dynamic, Self.interpreter, Self.note, Self.headerTable, Self.ehFrame, Self.property: fileBacked = true
        case Self.tls, Self.relro: fileBacked = false
        default: return  // PT_NULL, PT_GNU_STACK and types the loader ignores
        }
        let name = "segment \(index) (\(Self.typeName(segment.type)))"
        try Self.requireInFile(reader, offset: segment.offset, count: segment.fileSize, what: name)
        guard segment.fileSize <= segment.memorySize || segment.type == Self.relro else {
            throw ELFDefect(reason: "\(name) has more bytes in the file than in memory")
        }
        let size = fileBacked ? segment.memorySize : segment.fileSize
        if segment.type == Self.tls {
            guard
                segment.alignment <= 1
                    || (segment.alignment & (segment.alignment - 1) == 0 && segment.alignment <= 1 << 20)
            else {
                throw ELFDefect(reason: "\(name) has alignment \(segment.alignment), not a power of two up to 1 MiB")
            }
        }
        guard size > 0 else { return }
        let inside =
            fileBacked || segment.type == Self.tls
            ? fileOffset(of: segment.address, count: size) == segment.offset
            : self.segment(holding: segment.address, count: segment.memorySize) != nil
        guard inside else {
            throw ELFDefect(
                reason:
                    "\(name) at address 0x\(String(segment.address, radix: 16)) (\(size) bytes) does not lie inside a loaded segment at its file offset"
            )
        }
    }

    static func typeName(_ type: Int) -> String {
        switch type {
        case dynamic: return "PT_DYNAMIC"
        case interpreter: return "PT_INTERP"
        case note: return "PT_NOTE"
        case headerTable: return "PT_PHDR"
        case tls: return "PT_TLS"
        case ehFrame: return "PT_GNU_EH_FRAME"
        case relro: return "PT_GNU_RELRO"
        case property: return "PT_GNU_PROPERTY"
        default: return "type 0x\(String(type, radix: 16))"
        }
    }
}
