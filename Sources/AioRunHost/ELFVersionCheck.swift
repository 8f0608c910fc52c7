/// Symbol versions (DT_VERNEED, DT_VERDEF, DT_VERSYM): glibc follows their `next` links until a
/// zero without any bound and indexes its version array with every symbol's version number, so
/// each link must stay inside a loaded segment, each chain must end, and each index must exist.
extension ELFDynamicCheck {
    /// Walks the version needs and definitions; returns the number of version slots the loader
    /// allocates (the highest index + 1; 0 when the file has no version tables).
    func checkVersions() throws(ELFDefect) -> Int {
        var highest = 0
        if value(Self.versionNeeds) != nil {
            let neededNames = Set(
                try values(Self.needed).map { offset throws(ELFDefect) in try string(offset, "its DT_NEEDED entry") }
            )
            var address = value(Self.versionNeeds) ?? 0
            for step in 0... {
                guard step < 4096 else { throw ELFDefect(reason: "its version needs (DT_VERNEED) do not end") }
                let need = try read(
                    try table(Self.versionNeeds, at: address, count: 16, name: "version need"),
                    16,
                    "version need"
                )
                let file = try string(need.u32(4) ?? 0, "a version need")
                // glibc asserts (exit 127) when a need names a library that is not needed.
                guard neededNames.contains(file) else {
                    throw ELFDefect(
                        reason:
                            "its version needs (DT_VERNEED) name \(file), which is not among its DT_NEEDED libraries"
                    )
                }
                var auxiliary = address + (need.u32(8) ?? 0)
                for auxiliaryStep in 0... {
                    guard auxiliaryStep < 4096 else {
                        throw ELFDefect(reason: "its version needs (DT_VERNEED) do not end")
                    }
                    let entry = try read(
                        try table(Self.versionNeeds, at: auxiliary, count: 16, name: "version need entry"),
                        16,
                        "version need"
                    )
                    try requireString(entry.u32(8) ?? 0, "a version need entry")
                    highest = max(highest, (entry.u16(6) ?? 0) & 0x7fff)
                    guard let next = entry.u32(12), next != 0 else { break }
                    auxiliary += next
                }
                guard let next = need.u32(12), next != 0 else { break }
                address += next
            }
        }
        if value(Self.versionDefinitions) != nil {
            var address = value(Self.versionDefinitions) ?? 0
            for step in 0... {
                guard step < 4096 else { throw ELFDefect(reason: "its version definitions (DT_VERDEF) do not end") }
                let definition = try read(
                    try table(Self.versionDefinitions, at: address, count: 20, name: "version definition"),
                    20,
                    "version definition"
                )
                highest = max(highest, (definition.u16(4) ?? 0) & 0x7fff)
                let auxiliary = try read(
                    try table(
                        Self.versionDefinitions,
                        at: address + (definition.u32(12) ?? 0),
                        count: 8,
                        name: "version definition name"
                    ),
                    8,
                    "version definition"
                )
                try requireString(auxiliary.u32(0) ?? 0, "a version definition")
                guard let next = definition.u32(16), next != 0 else { break }
                address += next
            }
        }
        return highest == 0 ? 0 : highest + 1
    }

    /// Every symbol's version index (DT_VERSYM) must name an allocated slot.
    func checkVersionIndices(count: Int) throws(ELFDefect) {
        guard value(Self.versionSymbols) != nil else {
            // glibc reads DT_VERSYM without a check once it has version slots.
            guard count == 0 else {
                throw ELFDefect(reason: "it has version needs or definitions but no symbol versions (DT_VERSYM)")
            }
            return
        }
        guard count > 0 else {
            throw ELFDefect(reason: "it has symbol versions (DT_VERSYM) but no version needs or definitions")
        }
        let bytes = try read(
            try table(Self.versionSymbols, count: 2 * symbolCount, name: "symbol versions (DT_VERSYM)"),
            2 * symbolCount,
            "symbol versions"
        )
        for index in 0..<symbolCount {
            let version = (bytes.u16(2 * index) ?? 0) & 0x7fff
            guard version < count else {
                throw ELFDefect(
                    reason: "its symbol \(index) has version index \(version), but only \(count) versions exist"
                )
            }
        }
    }

    /// Like `table(_:count:name:)` for an address inside the table that `tag` starts.
    func table(_ tag: Int, at address: Int, count: Int, name: String) throws(ELFDefect) -> Int {
        guard let offset = segments.fileOffset(of: address, count: count) else {
            throw ELFDefect(
                reason: "its \(name) at 0x\(String(address, radix: 16)) does not lie inside a loaded segment"
            )
        }
        return offset
    }
}
