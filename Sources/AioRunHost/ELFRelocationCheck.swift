/// Relocations, initializers and finalizers: where the loader writes and what it calls.
extension ELFDynamicCheck {
    #if arch(arm64)
    static let relativeType = 1027, indirectType = 1032
    #else
    static let relativeType = 8, indirectType = 37
    #endif

    /// Whether the loader may write 8 bytes at `address`: inside a writable loaded segment, or
    /// any loaded segment when the file asks for text relocations.
    private func writable(_ address: Int) -> Bool {
        guard let segment = segments.segment(holding: address, count: 8) else { return false }
        let textRelocations = value(Self.textRelocations) != nil || (value(Self.flags) ?? 0) & 4 != 0
        return segment.isWritable || textRelocations
    }

    /// Whether `address` is code: inside the file-backed part of an executable loaded segment.
    func isCode(_ address: Int) -> Bool {
        segments.loads.contains { $0.isExecutable && address >= $0.address && address < $0.address + $0.fileSize }
    }

    /// Checks DT_RELA, DT_JMPREL and DT_RELR; records where relative relocations point, for the
    /// init and fini arrays.
    func checkRelocations() throws(ELFDefect) {
        // A table without its size (or a size without its table) makes the loader skip it and
        // run unrelocated code.
        for (table, size, name) in [
            (Self.rela, Self.relaSize, "DT_RELA and DT_RELASZ"),
            (Self.jumpRelocations, Self.pltRelocationSize, "DT_JMPREL and DT_PLTRELSZ"),
            (Self.jumpRelocations, Self.pltRelocationKind, "DT_JMPREL and DT_PLTREL"),
            (Self.relr, Self.relrSize, "DT_RELR and DT_RELRSZ"),
        ]
        where (value(table) == nil) != (value(size) == nil) {
            throw ELFDefect(reason: "its dynamic section has only one of \(name)")
        }
        if let kind = value(Self.pltRelocationKind), kind != Self.rela {
            throw ELFDefect(
                reason:
                    "its PLT relocations are of kind \(kind) (DT_PLTREL), this machine's loader accepts only DT_RELA (7)"
            )
        }
        if value(Self.rela) != nil {
            guard value(Self.relaEntry) == 24 else {
                throw ELFDefect(
                    reason:
                        "its relocations (DT_RELA) have entries of \(value(Self.relaEntry).map(String.init) ?? "unstated") bytes (DT_RELAENT), not 24"
                )
            }
            try checkRelocationTable(Self.rela, size: value(Self.relaSize), name: "relocations (DT_RELA, DT_RELASZ)")
        } else if value(Self.relativeCount) != nil {
            throw ELFDefect(reason: "its dynamic section has DT_RELACOUNT but no DT_RELA")
        }
        if value(Self.jumpRelocations) != nil {
            try checkRelocationTable(
                Self.jumpRelocations,
                size: value(Self.pltRelocationSize),
                name: "PLT relocations (DT_JMPREL, DT_PLTRELSZ)"
            )
        }
        if value(Self.relr) != nil {
            guard value(Self.relrEntry) == 8 else {
                throw ELFDefect(reason: "its relative relocations (DT_RELR) do not have 8-byte entries (DT_RELRENT)")
            }
            try checkRelativeRelocations()
        }
    }

    private func checkRelocationTable(_ tag: Int, size: Int?, name: String) throws(ELFDefect) {
        guard let size, size % 24 == 0, size / 24 <= Self.stepLimit else {
            throw ELFDefect(
                reason: "its \(name) have a size of \(size.map(String.init) ?? "none"), not a multiple of 24"
            )
        }
        let bytes = try read(try table(tag, count: size, name: name), size, name)
        // glibc takes the first DT_RELACOUNT entries of DT_RELA as relative ones, and asserts it.
        let relativeCount = tag == Self.rela ? value(Self.relativeCount) ?? 0 : 0
        guard relativeCount <= size / 24 else {
            throw ELFDefect(reason: "its DT_RELACOUNT (\(relativeCount)) exceeds its \(size / 24) relocations")
        }
        for index in 0..<(size / 24) {
            let offset = bytes.u64(24 * index) ?? 0
            let info = bytes.u64(24 * index + 8) ?? 0
            let symbol = info >> 32
            let type = info & 0xffff_ffff
            if index < relativeCount, type != Self.relativeType {
                throw ELFDefect(
                    reason:
                        "its relocation \(index) is of type \(type), but DT_RELACOUNT says the first \(relativeCount) are relative"
                )
            }
            // Type 0 (R_*_NONE, left by some linkers) is skipped by the loader.
            guard type != 0 else { continue }
            guard writable(offset) else {
                throw ELFDefect(
                    reason:
                        "its relocation \(index) in \(name) writes at 0x\(String(offset, radix: 16)), outside any writable loaded segment"
                )
            }
            guard symbol < max(symbolCount, 1) else {
                throw ELFDefect(
                    reason:
                        "its relocation \(index) in \(name) names symbol \(symbol), beyond its \(symbolCount) symbols"
                )
            }
            // An indirect (IFUNC) relocation calls its addend as a resolver at load time.
            if type == Self.indirectType, !isCode(bytes.u64(24 * index + 16) ?? 0) {
                throw ELFDefect(reason: "its relocation \(index) in \(name) calls a resolver outside its code")
            }
        }
    }

    /// DT_RELR: even words are addresses, odd words bitmaps of the next 63 words.
    private func checkRelativeRelocations() throws(ELFDefect) {
        let name = "relative relocations (DT_RELR, DT_RELRSZ)"
        guard let size = value(Self.relrSize), size % 8 == 0, size / 8 <= Self.stepLimit else {
            throw ELFDefect(reason: "its \(name) have a size that is not a multiple of 8")
        }
        let bytes = try read(try table(Self.relr, count: size, name: name), size, name)
        var base = -1
        for index in 0..<(size / 8) {
            let word = bytes.u64(8 * index) ?? 0
            if word & 1 == 0 {
                guard writable(word) else {
                    throw ELFDefect(
                        reason: "its \(name) write at 0x\(String(word, radix: 16)), outside any writable loaded segment"
                    )
                }
                base = word + 8
            } else {
                guard base >= 0 else { throw ELFDefect(reason: "its \(name) start with a bitmap") }
                for bit in 1..<64 where word >> bit & 1 != 0 {
                    let address = base + (bit - 1) * 8
                    guard writable(address) else {
                        throw ELFDefect(
                            reason:
                                "its \(name) write at 0x\(String(address, radix: 16)), outside any writable loaded segment"
                        )
                    }
                }
                base += 63 * 8
            }
        }
    }

    /// DT_INIT and DT_FINI are code; the init, fini and preinit arrays lie in loaded memory and
    /// every slot is filled by a relocation (an unrelocated slot is called as an absolute
    /// address); relative slots must point at code.
    func checkCodeAndArrays() throws(ELFDefect) {
        for (tag, name) in [(Self.initFunction, "initializer (DT_INIT)"), (Self.finiFunction, "finalizer (DT_FINI)")] {
            if let address = value(tag), !isCode(address) {
                throw ELFDefect(
                    reason: "its \(name) at 0x\(String(address, radix: 16)) is not in an executable segment"
                )
            }
        }
        let arrays = [
            (Self.initArray, Self.initArraySize, "initializer array (DT_INIT_ARRAY)"),
            (Self.finiArray, Self.finiArraySize, "finalizer array (DT_FINI_ARRAY)"),
            (Self.preinitArray, Self.preinitArraySize, "preinitializer array (DT_PREINIT_ARRAY)"),
        ]
        for (tag, sizeTag, name) in arrays where value(tag) != nil || value(sizeTag) != nil {
            // glibc reads the size through the size entry's pointer: one without the other crashes.
            guard let address = value(tag), let size = value(sizeTag) else {
                throw ELFDefect(reason: "its \(name) comes without its address or its size")
            }
            // The loader calls every slot; far more than any real library has is refused.
            guard size / 8 <= 1 << 16 else { throw ELFDefect(reason: "its \(name) claims \(size / 8) functions") }
            guard size % 8 == 0, segments.segment(holding: address, count: size) != nil else {
                throw ELFDefect(
                    reason:
                        "its \(name) at 0x\(String(address, radix: 16)) (\(size) bytes) does not lie inside a loaded segment"
                )
            }
        }
        for (tag, name) in [
            (Self.pltGOT, "global offset table (DT_PLTGOT)"),
            (Self.tlsDescGOT, "TLS descriptor table (DT_TLSDESC_GOT)"),
        ] {
            if let address = value(tag), segments.segment(holding: address, count: 8) == nil {
                throw ELFDefect(
                    reason: "its \(name) at 0x\(String(address, radix: 16)) does not lie inside a loaded segment"
                )
            }
        }
        if let address = value(Self.tlsDescPLT), !isCode(address) {
            throw ELFDefect(reason: "its TLS descriptor entry (DT_TLSDESC_PLT) is not in an executable segment")
        }
        try checkArraySlots(arrays.map { (value($0.0), value($0.1) ?? 0, $0.2) })
    }

    /// Each init/fini/preinit slot must be written by a relative relocation to code, or by a
    /// symbol relocation (resolved by the loader).
    private func checkArraySlots(_ arrays: [(address: Int?, size: Int, name: String)]) throws(ELFDefect) {
        let slots = arrays.flatMap { array in
            array.address.map { start in (0..<(array.size / 8)).map { (start + 8 * $0, array.name) } } ?? []
        }
        guard !slots.isEmpty, slots.count <= 1 << 16 else { return }
        // slot index → the relative target, or nil for a symbol relocation; few slots, so a scan.
        var filled: [Int?] = Array(repeating: nil, count: slots.count)
        var covered = [Bool](repeating: false, count: slots.count)
        // Real libraries have a handful of slots; a dictionary only for many.
        let slotIndex =
            slots.count > 16
            ? Dictionary(slots.enumerated().map { ($0.element.0, $0.offset) }) { first, _ in first } : nil
        for (tag, sizeTag) in [(Self.rela, Self.relaSize), (Self.jumpRelocations, Self.pltRelocationSize)] {
            guard value(tag) != nil, let size = value(sizeTag), let offset = try? table(tag, count: size, name: ""),
                let bytes = reader.bytes(at: offset, count: size)
            else { continue }
            for index in 0..<(size / 24) {
                let at = bytes.u64(24 * index) ?? 0
                guard let slot = slotIndex.map({ $0[at] }) ?? slots.firstIndex(where: { $0.0 == at }) else { continue }
                let relative = (bytes.u64(24 * index + 8) ?? 0) & 0xffff_ffff == Self.relativeType
                filled[slot] = relative ? bytes.u64(24 * index + 16) ?? 0 : nil
                covered[slot] = true
            }
        }
        for (position, (slot, name)) in slots.enumerated() {
            if covered[position] {
                if let target = filled[position], !isCode(target) {
                    throw ELFDefect(reason: "its \(name) points at 0x\(String(target, radix: 16)), not at code")
                }
            } else if value(Self.relr) == nil {
                // With DT_RELR the slot may be relocated in place: its file value is the target.
                throw ELFDefect(
                    reason: "its \(name) has a slot at 0x\(String(slot, radix: 16)) that no relocation fills"
                )
            } else if let offset = segments.fileOffset(of: slot, count: 8),
                let word = reader.bytes(at: offset, count: 8)?.u64(0), !isCode(word)
            {
                throw ELFDefect(reason: "its \(name) points at 0x\(String(word, radix: 16)), not at code")
            }
        }
    }
}
