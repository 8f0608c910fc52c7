/// The symbol hash tables (DT_GNU_HASH, DT_HASH): checked as the loader walks them, and used to
/// find `aiorun_plugin_entry` the way `dlsym` will, before `dlopen`.
extension ELFDynamicCheck {
    /// Checks whichever hash tables are present and sets ``symbolCount`` to the number of symbols
    /// they reach (the loader knows no other count).
    mutating func checkHashTables() throws(ELFDefect) {
        guard value(Self.gnuHash) != nil || value(Self.hash) != nil else {
            throw ELFDefect(reason: "its dynamic section has no symbol hash table (DT_GNU_HASH or DT_HASH)")
        }
        var count = 0
        if value(Self.hash) != nil { count = max(count, try checkSysVHash()) }
        if value(Self.gnuHash) != nil {
            let table = try checkGNUHash()
            gnuHashTable = table
            count = max(count, table.count)
        }
        guard count <= Self.stepLimit else { throw ELFDefect(reason: "its hash tables claim \(count) symbols") }
        symbolCount = count
    }

    /// DT_HASH: nbucket, nchain, buckets, chains; every index below nchain.
    private func checkSysVHash() throws(ELFDefect) -> Int {
        let name = "hash table (DT_HASH)"
        let header = try read(try table(Self.hash, count: 8, name: name), 8, name)
        let buckets = header.u32(0) ?? 0
        let chains = header.u32(4) ?? 0
        guard buckets > 0, buckets <= Self.stepLimit, chains <= Self.stepLimit else {
            throw ELFDefect(reason: "its \(name) has \(buckets) buckets and \(chains) chain entries")
        }
        let size = 8 + 4 * (buckets + chains)
        let words = try read(try table(Self.hash, count: size, name: name), size, name)
        for index in 0..<(buckets + chains) where (words.u32(8 + 4 * index) ?? 0) >= max(chains, 1) {
            throw ELFDefect(
                reason: "its \(name) points at symbol \(words.u32(8 + 4 * index) ?? 0), beyond its \(chains) symbols"
            )
        }
        // glibc follows a chain until symbol 0: a loop would hang every lookup.
        var steps = 0
        for bucket in 0..<buckets {
            var symbol = words.u32(8 + 4 * bucket) ?? 0
            var length = 0
            while symbol != 0 {
                length += 1
                steps += 1
                guard length <= chains, steps <= Self.stepLimit else {
                    throw ELFDefect(reason: "its \(name) has a chain that loops (bucket \(bucket))")
                }
                symbol = words.u32(8 + 4 * (buckets + symbol)) ?? 0
            }
        }
        return chains
    }

    /// The parts of a DT_GNU_HASH table.
    struct GNUHash {
        let buckets: [Int]
        let firstSymbol: Int
        /// The chain words from symbol `firstSymbol` to the end of the last chain.
        let chain: [UInt8]
        /// The number of symbols reached: one past the last chain entry.
        let count: Int
    }

    /// DT_GNU_HASH: nbuckets (≥ 1: the loader divides by it), symoffset, a power-of-two bloom
    /// filter, buckets at or above symoffset, chains that end inside the table.
    func checkGNUHash() throws(ELFDefect) -> GNUHash {
        let name = "GNU hash table (DT_GNU_HASH)"
        let header = try read(try table(Self.gnuHash, count: 16, name: name), 16, name)
        let bucketCount = header.u32(0) ?? 0
        let firstSymbol = header.u32(4) ?? 0
        let bloomWords = header.u32(8) ?? 0
        guard bucketCount > 0, bucketCount <= Self.stepLimit, bloomWords > 0, bloomWords <= Self.stepLimit,
            bloomWords & (bloomWords - 1) == 0, firstSymbol <= Self.stepLimit
        else {
            throw ELFDefect(
                reason:
                    "its \(name) has \(bucketCount) buckets and a \(bloomWords)-word bloom filter (needs at least one bucket and a power of two)"
            )
        }
        let fixed = 16 + 8 * bloomWords + 4 * bucketCount
        let tableOffset = try table(Self.gnuHash, count: fixed, name: name)
        let bucketBytes = try read(tableOffset + 16 + 8 * bloomWords, 4 * bucketCount, name)
        let buckets = (0..<bucketCount).map { bucketBytes.u32(4 * $0) ?? 0 }
        let chainAddress = (value(Self.gnuHash) ?? 0) + fixed
        var last = firstSymbol - 1
        for start in buckets where start != 0 {
            guard start >= firstSymbol else {
                throw ELFDefect(
                    reason: "its \(name) has a bucket at symbol \(start), below its first hashed symbol \(firstSymbol)"
                )
            }
            last = max(last, start)
        }
        // Chains are contiguous: they end at the first word with its low bit set at or after the
        // highest bucket's start. Read in pieces of at most 64 KiB, never beyond the segment.
        var chain: [UInt8] = []
        var index = last
        if index >= firstSymbol {
            while true {
                let position = 4 * (index - firstSymbol)
                if position + 4 > chain.count {
                    guard index - firstSymbol < Self.stepLimit,
                        let (offset, available) = segments.fileBacked(from: chainAddress + chain.count), available >= 4,
                        let piece = reader.bytes(at: offset, count: min(available - available % 4, 64 << 10))
                    else { throw ELFDefect(reason: "its \(name) has a chain that runs past the table's segment") }
                    chain += piece
                    continue
                }
                if (chain.u32(position) ?? 1) & 1 != 0 { break }
                index += 1
            }
        }
        chain.removeSubrange(min(chain.count, 4 * max(0, index + 1 - firstSymbol))...)
        return GNUHash(buckets: buckets, firstSymbol: firstSymbol, chain: chain, count: max(index + 1, firstSymbol))
    }

    /// The defined symbol `name` as `dlsym` finds it in this file (GNU hash first, as glibc), or
    /// `nil` when this file does not define it.
    func lookUp(_ name: String) -> (info: Int, section: Int, value: Int)? {
        let wanted = Array(name.utf8)
        func matches(_ index: Int) -> (info: Int, section: Int, value: Int)? {
            guard let symbol = symbol(index), symbol.section != 0,
                Array(strings.cString(symbol.name)?.utf8 ?? "".utf8) == wanted
            else { return nil }
            return (symbol.info, symbol.section, symbol.value)
        }
        if value(Self.gnuHash) != nil {
            guard let table = gnuHashTable else { return nil }
            let hash = wanted.reduce(UInt32(5381)) { $0 &* 33 &+ UInt32($1) }
            var index = table.buckets[Int(hash % UInt32(table.buckets.count))]
            guard index != 0 else { return nil }
            while index < table.count {
                guard let word = table.chain.u32(4 * (index - table.firstSymbol)) else { return nil }
                if UInt32(word) | 1 == hash | 1, let found = matches(index) { return found }
                if word & 1 != 0 { return nil }
                index += 1
            }
            return nil
        }
        // DT_HASH: every symbol is reachable; a linear pass over the checked count is enough.
        for index in 1..<max(symbolCount, 1) {
            if let found = matches(index) { return found }
        }
        return nil
    }
}
